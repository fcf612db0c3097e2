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

import functools
from collections.abc import Callable
from typing import Any

import msgspec
from quart import current_app
from quart_schema import OpenAPIProvider
from werkzeug.routing import Rule

from domain.model import MAC_ADDRESS_PATTERN
from entrypoints.docs.contract import (
    ADDED_FIELDS,
    CONTRACT_COMPONENTS,
    ERRORS,
    HEADERS,
    PREVIOUS_COMPONENTS,
    REQUEST_HEADERS,
)
from entrypoints.http import schemas
from entrypoints.http.route_docs import EXAMPLE_MAC, documented

_STRING = {"type": "string"}


class ServiceOpenAPIProvider(OpenAPIProvider):
    def schema(self) -> dict[str, Any]:
        document = super().schema()
        schemas = {**document["components"]["schemas"], **PREVIOUS_COMPONENTS}
        document["components"]["schemas"] = {
            CONTRACT_COMPONENTS.get(name, name): schema for name, schema in schemas.items()
        }
        for name, fields in ADDED_FIELDS.items():
            for field in fields:
                document["components"]["schemas"][name]["properties"][field].pop("default")
        named: dict[str, Any] = _renamed(document)
        return named

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        func = current_app.view_functions[rule.endpoint]
        extra = documented(func)
        components = {**components, **_nested_components(paths, components)}
        for operations in paths.values():
            for operation in operations.values():
                # The route's own models, before `_complete` adds the default 500 envelope.
                models = {body["schema"].get("title") for body in _bodies(operation)}
                self._complete(operation, extra)
                _refer_to_components(operation, components, models)
        return paths, components

    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str:
        """The previous service's pattern: `get__api_configs_{mac_address}`."""
        return f"{method.lower()}_{path.replace('/', '_')}"

    def build_path_parameter(self, name: str, converter: Any) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        if name == "mac_address":
            # The pattern is for machines (clients that validate, schemathesis); the docs page
            # shows people the words below instead of it (docs/swagger.py).
            parameter["schema"] = {"type": "string", "pattern": MAC_ADDRESS_PATTERN}
            parameter["description"] = (
                "The device's MAC address: six pairs of hex digits joined by - or by :, in "
                "either letter case (02-00-00-00-00-01 or 02:00:00:00:00:01). Answers always "
                "use the lower-case form with -."
            )
            parameter["example"] = EXAMPLE_MAC
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
            if extra["response_media_types"] and "content" in responses.get("200", {}):
                body = next(iter(responses["200"]["content"].values()))
                responses["200"]["content"] = {
                    media: dict(body) for media in extra["response_media_types"]
                }
            if extra["response_array"]:
                for body in responses["200"]["content"].values():
                    body["schema"] = {"type": "array", "items": body["schema"]}
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


def _bodies(operation: dict[str, Any]) -> list[dict[str, Any]]:
    bodies = [*operation.get("requestBody", {}).get("content", {}).values()]
    for response in operation["responses"].values():
        bodies.extend(response.get("content", {}).values())
    return bodies


def _refer_to_components(
    operation: dict[str, Any], components: dict[str, Any], models: set[str | None]
) -> None:
    """Put each body schema that is one of the route's models into the components, as
    completed for this operation, and refer to it there: generated clients name their types
    after components, never after inline schemas."""
    for body in _bodies(operation):
        # An array answer (a diff) refers to its items' component.
        holder = body["schema"] if body["schema"].get("type") == "array" else body
        key = "items" if holder is not body else "schema"
        title = holder[key].get("title")
        if title in models and title in _model_components():
            components[title] = holder[key]
            holder[key] = _ref(title)


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


# Every model a route documents, and the models they nest.
MODELS = (
    schemas.ConfigHistoryOut,
    schemas.DeletedConfigsOut,
    schemas.DeviceConfigFileOut,
    schemas.DeviceConfigIn,
    schemas.DeviceConfigListOut,
    schemas.DeviceConfigOut,
    schemas.DeviceConfigPatchIn,
    schemas.DeviceConfigSummaryOut,
    schemas.DeviceListOut,
    schemas.DeviceOut,
    schemas.ErrorOut,
    schemas.HealthOut,
    schemas.JsonPatchOperationOut,
    schemas.RestoreIn,
    schemas.RevisionDetailOut,
    schemas.UnhealthyOut,
)


@functools.cache
def _model_components() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(MODELS, ref_template=_REF_PREFIX + "{name}")
    return components


def _nested_components(paths: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Schemas that the route's bodies refer to and that are not among its components.
    quart-schema keeps only each body model's own schema from msgspec, so a model nested in
    another (a list's items) would be a dangling reference without this."""
    known = _model_components()
    nested: dict[str, Any] = {}
    pending = _references(paths)
    while pending:
        name = pending.pop()
        if name in known and name not in components and name not in nested:
            nested[name] = known[name]
            pending |= _references(known[name])
    return nested


def _references(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*map(_references, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {
        ref.removeprefix(_REF_PREFIX)
        for key, ref in node.items()
        if key == "$ref" and isinstance(ref, str) and ref.startswith(_REF_PREFIX)
    }
    return found.union(*map(_references, node.values())) if node else found


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
    return {"content": {"application/json": {"schema": _model_components()["ErrorOut"]}}}


def _is_error_envelope(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("title") == "ErrorOut")
