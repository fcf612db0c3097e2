"""API schemas: request and response shapes (attrs classes), and their domain mappers."""

from __future__ import annotations

import re
from typing import Any, TypedDict, TypeVar

import attrs
import msgspec
from attrs import AttrsInstance
from quart import request
from werkzeug.exceptions import UnsupportedMediaType

from domain.model import ConfigListing, DeviceConfig, DeviceConfigSummary
from entrypoints.errors import RequestValidationFailed

T = TypeVar("T", bound=AttrsInstance)

# Response schemas use slots=False: msgspec serialises slotted attrs classes in slot order,
# which attrs sorts by name, and the contract's readers expect `mac_address` first.


@attrs.frozen
class DeviceConfigIn:
    """Body of `PUT /api/configs/{mac_address}`."""

    content: dict[str, Any]
    allow_overwrite: bool = True


@attrs.frozen(slots=False)
class DeviceConfigSummaryOut:
    mac_address: str
    device_name: str | None
    device_entity_id: str | None
    enable_ota: bool | None

    @classmethod
    def from_domain(cls, summary: DeviceConfigSummary) -> DeviceConfigSummaryOut:
        return cls(
            mac_address=str(summary.mac_address),
            device_name=summary.device_name,
            device_entity_id=summary.device_entity_id,
            enable_ota=summary.enable_ota,
        )


@attrs.frozen(slots=False)
class DeviceConfigOut:
    mac_address: str
    device_name: str | None
    device_entity_id: str | None
    enable_ota: bool | None
    content: dict[str, Any]

    @classmethod
    def from_domain(cls, config: DeviceConfig) -> DeviceConfigOut:
        summary = config.summary()
        return cls(
            mac_address=str(config.mac_address),
            device_name=summary.device_name,
            device_entity_id=summary.device_entity_id,
            enable_ota=summary.enable_ota,
            content=config.content,
        )


@attrs.frozen(slots=False)
class DeviceConfigListOut:
    configs: list[DeviceConfigSummaryOut]
    count: int

    @classmethod
    def from_domain(cls, listing: ConfigListing) -> DeviceConfigListOut:
        configs = [DeviceConfigSummaryOut.from_domain(summary) for summary in listing.summaries]
        return cls(configs=configs, count=len(configs))


class DeviceConfigFileOut(TypedDict):
    """A device's config file: the JSON object exactly as stored, whatever its keys."""


@attrs.frozen(slots=False)
class HealthOut:
    status: str


@attrs.frozen(slots=False)
class UnhealthyOut:
    """The 503 health body: the contract's `status` and `reason`, plus the error envelope."""

    status: str
    reason: str
    error: str
    code: str
    details: dict[str, Any] | None
    correlationId: str  # noqa: N815 - the contract's spelling


@attrs.frozen(slots=False)
class ErrorOut:
    """The body of every error response."""

    error: str
    code: str
    details: dict[str, Any] | None
    correlationId: str  # noqa: N815 - the contract's spelling


_JSON_MEDIA_TYPE = re.compile(r"application/(?:[\w.+-]+\+)?json")
_AT_PATH = re.compile(r"^(?P<message>.*) - at `\$\.?(?P<field>[^`]*)`$")
_MISSING_FIELD = re.compile(r"missing required field `(?P<field>[^`]+)`")


async def read_json_body(schema: type[T]) -> T:
    """Parse the request body strictly into `schema`.

    quart-schema's `validate_request` converts loosely (`"false"` becomes a bool) and its JSON
    parser accepts `NaN`; a config service must refuse both, so bodies are decoded here with
    msgspec in strict mode. Unknown fields are refused too: a misspelt `allow_overwrite` must
    not silently overwrite a config.
    """
    mimetype = request.mimetype
    if mimetype and _JSON_MEDIA_TYPE.fullmatch(mimetype) is None:
        raise UnsupportedMediaType(
            f"The request body must be JSON (Content-Type: application/json), not {mimetype}."
        )
    body = await request.get_data(as_text=False)
    try:
        data = msgspec.json.decode(body)
    except UnicodeDecodeError:
        raise _invalid("body", "The request body is not valid UTF-8.") from None
    except RecursionError:
        raise _invalid("body", "The request body is nested too deeply.") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _invalid("body", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise _invalid("body", "The request body must be a JSON object.")
    known = {field.name for field in attrs.fields(schema)}
    for name in data:
        if name not in known:
            expected = ", ".join(sorted(known))
            raise _invalid(name, f"Unknown field {name!r}; the body may hold only: {expected}.")
    try:
        return msgspec.convert(data, schema, strict=True)
    except msgspec.ValidationError as exc:
        field, message = _split_validation_message(str(exc))
        raise _invalid(field, message) from None


def _split_validation_message(text: str) -> tuple[str, str]:
    at_path = _AT_PATH.match(text)
    if at_path is not None:
        return at_path["field"] or "body", at_path["message"]
    missing = _MISSING_FIELD.search(text)
    if missing is not None:
        return missing["field"], f"Field {missing['field']!r} is required."
    return "body", text


def _invalid(field: str, message: str) -> RequestValidationFailed:
    return RequestValidationFailed(
        f"Invalid request body: {message}" if field == "body" else f"Invalid {field}: {message}",
        [{"field": field, "message": message}],
    )
