"""What the OpenAPI document says in words and names, kept as data: header descriptions, the
previous service's component names and schemas (API.md: generated clients import them), and
the error answers each status can carry, with examples."""

from __future__ import annotations

from typing import Any

from entrypoints.http.route_docs import VALIDATION_ERROR

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


# Our models' schema titles -> the previous service's component names, dots included.
CONTRACT_COMPONENTS = {
    "DeviceConfigIn": "ConfigSaveRequestSchema.6be28b6",
    "DeviceConfigOut": "ConfigResponseSchema.6be28b6",
    "DeviceConfigListOut": "ConfigListResponseSchema.6be28b6",
    "DeviceConfigSummaryOut": "ConfigListResponseSchema.6be28b6.ConfigSummarySchema",
    "ErrorOut": "ErrorResponseSchema.8c5cd6b",
}
# Fields this service added to a previous service's component. They are always sent, and
# documented without a default: generators read a default as "always present" and make the
# field required, so code typed against the previous component (an answer the UI's tests
# build by hand) would stop compiling.
ADDED_FIELDS = {"ConfigListResponseSchema.6be28b6": ("skipped",)}
# The previous service documented its list's 400 with this shape (named in route_docs); no
# model of ours has it (this service never answers the list with 400), so it is kept as data
# for generated clients.
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
        "`UNSUPPORTED_MEDIA_TYPE`: a body needs a Content-Type: `PUT` takes `application/json` "
        "(or another JSON media type), `PATCH` takes `application/merge-patch+json` or "
        "`application/json`; a charset, if given, must be UTF-8. Nothing is written.",
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
