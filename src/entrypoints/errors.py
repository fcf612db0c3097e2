"""Error mapping: every failure, domain or framework, becomes the contract's JSON error envelope."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from quart import Quart, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from domain.errors import (
    CorruptDeviceConfig,
    DeviceConfigExists,
    DeviceConfigNotFound,
    DeviceConfigTooLarge,
    DomainError,
    InvalidDeviceConfig,
    InvalidMacAddress,
    PreconditionFailed,
    StorageUnavailable,
)
from entrypoints.correlation import correlation_id

logger = logging.getLogger(__name__)


class RequestValidationFailed(Exception):
    """The request body is not what the route accepts; `errors` says which field and why."""

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


# Searched along the exception's MRO, so a subclass inherits its parent's row.
ERROR_TABLE: dict[type[Exception], tuple[int, str]] = {
    InvalidMacAddress: (400, "INVALID_OPERATION"),
    InvalidDeviceConfig: (400, "VALIDATION_FAILED"),
    RequestValidationFailed: (400, "VALIDATION_FAILED"),
    DeviceConfigNotFound: (404, "RECORD_NOT_FOUND"),
    DeviceConfigTooLarge: (413, "PAYLOAD_TOO_LARGE"),
    DeviceConfigExists: (409, "RECORD_EXISTS"),
    PreconditionFailed: (412, "PRECONDITION_FAILED"),
    CorruptDeviceConfig: (500, "CONFIG_CORRUPT"),
    StorageUnavailable: (503, "STORAGE_UNAVAILABLE"),
    DomainError: (500, "INTERNAL_ERROR"),
}

HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}

INTERNAL_ERROR = (500, "INTERNAL_ERROR")


def classify(error: BaseException) -> tuple[int, str]:
    """The (status, code) an exception answers with; unknown exceptions are internal errors."""
    for cls in type(error).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    if isinstance(error, HTTPException) and error.code is not None:
        return error.code, HTTP_CODES.get(error.code, f"HTTP_{error.code}")
    return INTERNAL_ERROR


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body = error_body(code, message, correlation_id(), details, extra)
    return Response(body, status=status, content_type="application/json")


def error_body(
    code: str,
    message: str,
    correlation_id: str,
    details: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """The contract's error envelope, encoded; also used outside Quart (the short paths)."""
    envelope = {
        **(extra or {}),
        "error": message,
        "code": code,
        "details": details,
        "correlationId": correlation_id,
    }
    # An error answer must never fail itself: anything unexpected in details is written as text.
    return msgspec.json.encode(envelope, enc_hook=str)


async def handle_domain_error(error: DomainError) -> Response:
    status, code = classify(error)
    if status >= 500:
        logger.error("%s: %s", code, error.message)
    response = error_response(status, code, error.message, error.details)
    if isinstance(error, StorageUnavailable) and error.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


async def handle_validation_error(error: RequestValidationFailed) -> Response:
    status, code = classify(error)
    return error_response(status, code, error.message, {"errors": error.errors})


async def handle_http_exception(error: HTTPException) -> Response:
    status, code = classify(error)
    response = error_response(status, code, _describe_http_error(error))
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if status in (408, 413):
        # The body is left unread. Keeping the connection would mean reading all of it to
        # reach the next request, and a client that sent `Expect: 100-continue` has already
        # been told to send it (hypercorn answers 100 before the app sees the request).
        response.headers["Connection"] = "close"
    return response


async def handle_unexpected(error: Exception) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.path)
    status, code = INTERNAL_ERROR
    return error_response(
        status,
        code,
        "The server hit an unexpected error. It has been logged under this correlation id.",
    )


def _describe_http_error(error: HTTPException) -> str:
    if isinstance(error, NotFound):
        return f"There is no API route at {request.path}."
    if isinstance(error, MethodNotAllowed):
        allowed = ", ".join(sorted(error.valid_methods or ()))
        return f"Method {request.method} is not allowed on {request.path}; allowed: {allowed}."
    if error.code == 408:
        limit = current_app.config["BODY_TIMEOUT"]
        return f"The request body did not arrive within {limit:g} s; nothing was written."
    if error.code == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return f"The request body is larger than the {limit} byte limit."
    return error.description or error.name


def register_error_handlers(app: Quart) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(RequestValidationFailed, handle_validation_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
