"""The OpenAPI document: what quart-schema builds, plus what it cannot say on its own.

quart-schema documents bodies and statuses from the route decorators. This provider adds the
rest, so the document tells the whole truth: the MAC pattern on path parameters, the
conditional-request headers, bodiless answers (204, 304), response headers, the merge-patch media
type, required request bodies, and the error answers every route can give.

It also keeps the previous service's names (API.md, "The OpenAPI document is part of the
contract"): the admin UI generates its client from this document and imports those names, so
operationIds follow `<method>_<path with / as _>` and the bodies are components named as they
were (`ConfigSaveRequestSchema.6be28b6`, ...), with open objects marked
`additionalProperties: true`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from quart import current_app
from quart_schema import OpenAPIProvider
from quart_schema.conversion import MSGSPEC_REF_TEMPLATE as REF_TEMPLATE
from quart_schema.conversion import model_schema
from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE, QUART_SCHEMA_RESPONSE_ATTRIBUTE
from werkzeug.routing import Rule

from domain.model import MAC_ADDRESS_PATTERN
from entrypoints.schemas import ErrorOut

F = TypeVar("F", bound=Callable[..., Any])

_DOC_ATTRIBUTE = "_iot_support_openapi"

_STRING = {"type": "string"}

HEADERS = {
    "ETag": "Strong entity tag of the stored file: the same on every replica for the same bytes.",
    "Last-Modified": "When the stored file last changed.",
    "Cache-Control": "`no-cache`: caches must revalidate (with `If-None-Match`) before reuse.",
    "X-Request-ID": "The request's correlation id (also `correlationId` in error bodies).",
}

REQUEST_HEADERS = {
    "If-None-Match": "ETags the caller has (or `*`); when one matches (weak comparison) a GET "
    "answers `304`, and a `PUT` with `*` only creates.",
    "If-Modified-Since": "Used only without `If-None-Match`: `304` when unchanged since then.",
    "If-Match": "ETag of the version this write applies to (strong comparison), or `*` for any "
    "existing version; otherwise `412` and nothing is written.",
    "X-Request-ID": "Correlation id to use for this request (generated when absent).",
}


def describe(
    *,
    request_headers: tuple[str, ...] = (),
    response_headers: dict[int, tuple[str, ...]] | None = None,
    empty: dict[int, str] | None = None,
    request_media_types: tuple[str, ...] = (),
    request_example: Any = None,
    response_examples: dict[int, Any] | None = None,
    previous_responses: dict[int, tuple[str, str]] | None = None,
) -> Callable[[F], F]:
    """Attach to a route what its OpenAPI operation should say beyond quart-schema's reach.

    Stacks: several `describe` decorators on one route add up. `request_media_types` lists
    the media types the body is documented under (the first is the preferred one);
    `previous_responses` maps a status to (component, description) for answers the previous
    service documented with a schema of its own.
    """

    def decorator(func: F) -> F:
        doc = getattr(func, _DOC_ATTRIBUTE, None) or {
            "request_headers": (),
            "response_headers": {},
            "empty": {},
            "request_media_types": (),
            "request_example": None,
            "response_examples": {},
            "previous_responses": {},
        }
        doc["request_headers"] = (*doc["request_headers"], *request_headers)
        doc["response_headers"] = {**doc["response_headers"], **(response_headers or {})}
        doc["empty"] = {**doc["empty"], **(empty or {})}
        doc["request_media_types"] = request_media_types or doc["request_media_types"]
        doc["previous_responses"] = {**doc["previous_responses"], **(previous_responses or {})}
        if request_example is not None:
            doc["request_example"] = request_example
        doc["response_examples"] = {**doc["response_examples"], **(response_examples or {})}
        setattr(func, _DOC_ATTRIBUTE, doc)
        return func

    return decorator


# Our models' schema titles -> the previous service's component names, dots included.
CONTRACT_COMPONENTS = {
    "DeviceConfigIn": "ConfigSaveRequestSchema.6be28b6",
    "DeviceConfigOut": "ConfigResponseSchema.6be28b6",
    "DeviceConfigListOut": "ConfigListResponseSchema.6be28b6",
    "DeviceConfigSummaryOut": "ConfigListResponseSchema.6be28b6.ConfigSummarySchema",
    "ErrorOut": "ErrorResponseSchema.8c5cd6b",
}
# The previous service documented its list's 400 with this shape; no model of ours has it (this
# service never answers the list with 400), so it is kept as data for generated clients.
VALIDATION_ERROR = "ValidationError.6a07bef"
PREVIOUS_COMPONENTS: dict[str, Any] = {
    VALIDATION_ERROR: {
        "title": "ValidationError",
        "description": "Model of a validation error response (the previous service's).",
        "type": "array",
        "items": {"$ref": f"#/components/schemas/{VALIDATION_ERROR}.ValidationErrorElement"},
    },
    f"{VALIDATION_ERROR}.ValidationErrorElement": {
        "title": "ValidationErrorElement",
        "description": "Model of a validation error response element.",
        "type": "object",
        "properties": {
            "loc": {"title": "Missing field name", "type": "array", "items": {"type": "string"}},
            "msg": {"title": "Error message", "type": "string"},
            "type": {"title": "Error type", "type": "string"},
            "ctx": {"title": "Error context", "type": "object", "additionalProperties": True},
        },
        "required": ["loc", "msg", "type"],
    },
}

VALIDATORS = ("ETag", "Last-Modified")

EXAMPLE_MAC = "24-0a-c4-12-34-56"
EXAMPLE_CONTENT: dict[str, Any] = {
    "deviceName": "Kitchen Climate 1",
    "deviceEntityId": "sensor.kitchen_climate_1",
    "enableOTA": True,
    "wifi": {"ssid": "homelab-iot", "hostname": "esp32-kitchen-climate-1", "powerSave": "none"},
    "mqtt": {"broker": "mqtt.home.lan", "port": 1883, "topicPrefix": "home/kitchen/climate_1"},
    "sensors": [{"id": "bme280_0", "type": "bme280", "bus": "i2c", "i2cAddress": "0x76"}],
    "updateIntervals": {"telemetrySeconds": 60, "configRefreshSeconds": 900},
}
EXAMPLE_SUMMARY: dict[str, Any] = {
    "mac_address": EXAMPLE_MAC,
    "device_name": "Kitchen Climate 1",
    "device_entity_id": "sensor.kitchen_climate_1",
    "enable_ota": True,
}
EXAMPLE_CONFIG: dict[str, Any] = {**EXAMPLE_SUMMARY, "content": EXAMPLE_CONTENT}

conditional_get = describe(
    request_headers=("If-None-Match", "If-Modified-Since"),
    response_headers={200: (*VALIDATORS, "Cache-Control"), 304: (*VALIDATORS, "Cache-Control")},
    empty={304: "Not Modified: the caller's copy is current; no body."},
)


class ServiceOpenAPIProvider(OpenAPIProvider):
    def schema(self) -> dict[str, Any]:
        document = super().schema()
        schemas = {**document["components"]["schemas"], **PREVIOUS_COMPONENTS}
        document["components"]["schemas"] = {
            CONTRACT_COMPONENTS.get(name, name): schema for name, schema in schemas.items()
        }
        named: dict[str, Any] = _renamed(document)
        return named

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        func = current_app.view_functions[rule.endpoint]
        extra = getattr(func, _DOC_ATTRIBUTE, None)
        components = {**components, **_nested_components(func)}
        for operations in paths.values():
            for operation in operations.values():
                self._complete(operation, extra)
                _refer_to_components(operation, components)
        return paths, components

    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str:
        """The previous service's pattern: `get__api_configs_{mac_address}`."""
        return f"{method.lower()}_{path.replace('/', '_')}"

    def build_path_parameter(self, name: str, converter: Any) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        if name == "mac_address":
            parameter["schema"] = {"type": "string", "pattern": MAC_ADDRESS_PATTERN}
            parameter["description"] = (
                "The device's MAC address: six hex pairs joined by `-` or by `:`, any letter "
                "case. Answers always use the canonical lower-case `-` form."
            )
            parameter["example"] = "aa-bb-cc-dd-ee-ff"
        return parameter

    @staticmethod
    def _complete(operation: dict[str, Any], extra: dict[str, Any] | None) -> None:
        # quart-schema shares one responses dict between methods of a rule: copy before editing.
        responses = operation["responses"] = {
            str(status): dict(response) for status, response in operation["responses"].items()
        }
        if "requestBody" in operation:
            operation["requestBody"] = {**operation["requestBody"], "required": True}
            for body in operation["requestBody"]["content"].values():
                if body["schema"].get("properties"):
                    # Typed bodies refuse unknown fields (see schemas.read_json_body).
                    body["schema"] = {**body["schema"], "additionalProperties": False}
        operation["parameters"] = [*operation["parameters"], _header_parameter("X-Request-ID")]
        if extra is not None:
            operation["parameters"].extend(_header_parameter(h) for h in extra["request_headers"])
            for status, description in extra["empty"].items():
                responses[str(status)] = {"description": description}
            for status, names in extra["response_headers"].items():
                response = responses[str(status)]
                response["headers"] = {**response.get("headers", {}), **_headers(names)}
            media_types = extra["request_media_types"]
            if media_types and "requestBody" in operation:
                body = next(iter(operation["requestBody"]["content"].values()))
                operation["requestBody"]["content"] = {media: dict(body) for media in media_types}
            if extra["request_example"] is not None and "requestBody" in operation:
                for body in operation["requestBody"]["content"].values():
                    body["example"] = extra["request_example"]
            for status, example in extra["response_examples"].items():
                for body in responses[str(status)].get("content", {}).values():
                    body["example"] = example
            for status, (component, description) in extra["previous_responses"].items():
                responses[str(status)] = {
                    "description": description,
                    "content": {"application/json": {"schema": _ref(component)}},
                }
        responses.setdefault("500", _error_response())
        for status, response in responses.items():
            if status in ERRORS and _is_error_envelope(response):
                description, example = ERRORS[status]
                response["description"] = description
                for body in response["content"].values():
                    body.setdefault("example", example)
        for response in responses.values():
            response.setdefault("description", "")
            response["headers"] = {**response.get("headers", {}), **_headers(("X-Request-ID",))}
            # quart-schema puts response headers inside `content`, where OpenAPI ignores them.
            if "content" in response:
                response["content"] = {
                    media: body for media, body in response["content"].items() if media != "headers"
                }


def _refer_to_components(operation: dict[str, Any], components: dict[str, Any]) -> None:
    """Put each body schema that is one of our models into the components, as completed for
    this operation, and refer to it there: generated clients name their types after
    components, never after inline schemas."""
    bodies = [*operation.get("requestBody", {}).get("content", {}).values()]
    for response in operation["responses"].values():
        bodies.extend(response.get("content", {}).values())
    for body in bodies:
        title = body["schema"].get("title")
        if title in components:
            components[title] = body["schema"]
            body["schema"] = _ref(title)


def _renamed(node: Any) -> Any:
    """`node` with every reference to one of our models renamed to the contract's component
    name, and every open object (`dict[str, Any]`, a TypedDict without keys) marked
    `additionalProperties: true`, without which a generated client types it as an object with
    no keys."""
    if isinstance(node, list):
        return [_renamed(item) for item in node]
    if not isinstance(node, dict):
        return node
    renamed = {key: _renamed(value) for key, value in node.items()}
    ref = renamed.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        name = ref.removeprefix(_REF_PREFIX)
        renamed["$ref"] = _REF_PREFIX + CONTRACT_COMPONENTS.get(name, name)
    if renamed.get("type") == "object" and not renamed.get("properties"):
        renamed.setdefault("additionalProperties", True)
    return renamed


_REF_PREFIX = "#/components/schemas/"


def _ref(component: str) -> dict[str, str]:
    return {"$ref": _REF_PREFIX + component}


def _nested_components(func: Callable[..., Any]) -> dict[str, Any]:
    """Schemas that the route's models refer to. quart-schema keeps only each model's own
    schema from msgspec, so a model nested in another (a list's items) would be a dangling
    reference without this."""
    models = [model for model, _ in getattr(func, QUART_SCHEMA_RESPONSE_ATTRIBUTE, {}).values()]
    request = getattr(func, QUART_SCHEMA_REQUEST_ATTRIBUTE, None)
    if request is not None:
        models.append(request[0])
    _, components = msgspec.json.schema_components(models, ref_template=REF_TEMPLATE)
    return components


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: {"description": HEADERS[name], "schema": _STRING} for name in names}


def _header_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": REQUEST_HEADERS[name],
        "schema": _STRING,
    }


def _error_response() -> dict[str, Any]:
    return {"content": {"application/json": {"schema": model_schema(ErrorOut)}}}


def _is_error_envelope(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("title") == "ErrorOut")


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": message, "code": code, "details": None, "correlationId": "3f1c9a0e5b7d4c21"}


# Per status: the error codes it can carry, in words, and an example body.
ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": (
        "`INVALID_OPERATION`: the MAC address is not valid. `VALIDATION_FAILED`: the body is "
        "not acceptable (not JSON, wrong types, unknown fields, duplicate keys, NaN, a merge "
        "that leaves no object); `details.errors` lists `{field, message}`. Nothing is written.",
        {
            "error": "Invalid allow_overwrite: Expected `bool`, got `str`",
            "code": "VALIDATION_FAILED",
            "details": {
                "errors": [{"field": "allow_overwrite", "message": "Expected `bool`, got `str`"}]
            },
            "correlationId": "3f1c9a0e5b7d4c21",
        },
    ),
    "404": (
        "`RECORD_NOT_FOUND`: no config is stored for this device.",
        _error("RECORD_NOT_FOUND", "Config aa-bb-cc-dd-ee-ff was not found"),
    ),
    "409": (
        "`RECORD_EXISTS`: `allow_overwrite` is false and a config exists. Nothing is written.",
        _error("RECORD_EXISTS", "Config for aa-bb-cc-dd-ee-ff already exists"),
    ),
    "412": (
        "`PRECONDITION_FAILED`: `If-Match` or `If-None-Match` does not hold. Nothing is written.",
        _error(
            "PRECONDITION_FAILED",
            "The condition on the config for device aa-bb-cc-dd-ee-ff does not hold (the stored "
            "config has changed); nothing was written. Fetch it again and retry with its "
            "current ETag.",
        ),
    ),
    "413": (
        "`PAYLOAD_TOO_LARGE`: the body is over `MAX_CONFIG_BYTES`. Nothing is written.",
        _error("PAYLOAD_TOO_LARGE", "The request body is larger than the 1048576 byte limit."),
    ),
    "415": (
        "`UNSUPPORTED_MEDIA_TYPE`: `PUT` takes `application/json`, `PATCH` takes "
        "`application/merge-patch+json` or `application/json`. Nothing is written.",
        _error(
            "UNSUPPORTED_MEDIA_TYPE",
            "The request body must be sent as JSON (Content-Type: application/json), not "
            "text/plain.",
        ),
    ),
    "500": (
        "`CONFIG_CORRUPT`: the stored file is not a usable config; the message says why, and a "
        "`PUT` replaces it. `INTERNAL_ERROR`: a bug; the log has it under the correlation id.",
        _error(
            "CONFIG_CORRUPT",
            "The stored config for device aa-bb-cc-dd-ee-ff is unusable: the file holds a JSON "
            "array, not an object. Save a new config for this device to replace it.",
        ),
    ),
    "503": (
        "`STORAGE_UNAVAILABLE`: the configs directory is missing or unusable (permission "
        "denied, read-only or full filesystem, I/O error, another writer holding the config's "
        "lock); the message says which. `SHUTTING_DOWN`: the server stopped before the request "
        "finished. Nothing is written.",
        _error(
            "STORAGE_UNAVAILABLE",
            "Config storage is unavailable: the configs filesystem is full.",
        ),
    ),
}
