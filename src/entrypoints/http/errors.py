"""The one error table: every failure, domain or framework, and the answer it gets."""

from __future__ import annotations

import logging
import time

from werkzeug.exceptions import HTTPException

from domain.errors import (
    CorruptDeviceConfig,
    DeviceConfigExists,
    DeviceConfigNotFound,
    DeviceConfigTooLarge,
    DeviceNotFound,
    DomainError,
    InvalidDeviceConfig,
    InvalidMacAddress,
    PreconditionFailed,
    StorageUnavailable,
)
from entrypoints.http.answer import Answer, error
from entrypoints.observability.metrics import Metrics

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
    DeviceNotFound: (404, "RECORD_NOT_FOUND"),
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
UNEXPECTED = "The server hit an unexpected error. It has been logged under this correlation id."


def classify(failure: BaseException) -> tuple[int, str]:
    """The (status, code) an exception answers with; unknown exceptions are internal errors."""
    for cls in type(failure).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    if isinstance(failure, HTTPException) and failure.code is not None:
        return failure.code, HTTP_CODES.get(failure.code, f"HTTP_{failure.code}")
    return INTERNAL_ERROR


def failed(failure: Exception, correlation_id: str, during: str) -> Answer:
    """The answer to a request that raised `failure`: a domain error or a refused body as the
    table says, anything else (a bug) as an internal error, logged with its traceback under
    `during` (the request's method and path). HTTP errors of Quart's routing are answered by
    `responses.py`, which knows the request they are about."""
    if isinstance(failure, RequestValidationFailed):
        status, code = classify(failure)
        return error(status, code, failure.message, correlation_id, {"errors": failure.errors})
    if isinstance(failure, DomainError):
        status, code = classify(failure)
        if status >= 500:
            logger.error("%s: %s", code, failure.message)
        answer = error(status, code, failure.message, correlation_id, failure.details)
        if isinstance(failure, StorageUnavailable) and failure.retry_after_seconds is not None:
            answer.headers["Retry-After"] = str(failure.retry_after_seconds)
        return answer
    logger.error("unexpected error on %s", during, exc_info=failure)
    return error(*INTERNAL_ERROR, UNEXPECTED, correlation_id)


class counted:  # noqa: N801 - used as `with counted(...)`, like a function
    """Time a config operation and count it under its outcome: `success`, or the error code it
    answers with, in lower case (a storage failure is counted by its kind as well). A class,
    not a generator: it runs on every device fetch, and costs a third of the generator's."""

    __slots__ = ("_metrics", "_operation", "_started")

    def __init__(self, metrics: Metrics, operation: str) -> None:
        self._metrics = metrics
        self._operation = operation
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, failure: BaseException | None, _: object
    ) -> None:
        outcome = "success"
        if failure is not None:
            outcome = classify(failure)[1].lower()
            if isinstance(failure, StorageUnavailable):
                self._metrics.storage_failed(failure.failure.value)
        seconds = time.perf_counter() - self._started
        self._metrics.operation_done(self._operation, seconds, outcome)
