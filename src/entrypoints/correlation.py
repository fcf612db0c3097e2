"""Correlation ids: one per request, taken from the caller when sane, echoed back and logged."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from quart import Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_INCOMING_HEADERS = ("X-Request-ID", "X-Correlation-ID")
# Ids end up in logs and headers: anything outside this shape is replaced, not echoed.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def correlation_id() -> str:
    """The current request's id, created on first use so even early errors carry one."""
    current: str | None = g.get("correlation_id")
    if current is None:
        current = choose_correlation_id(request.headers.get)
        g.correlation_id = current
    return current


def choose_correlation_id(header: Callable[[str], str | None]) -> str:
    """The caller's X-Request-ID (or X-Correlation-ID) when it looks like an id, else a new one."""
    for name in _INCOMING_HEADERS:
        value = header(name)
        if value and _SAFE_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


async def echo_correlation_id(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = correlation_id()
    return response


class CorrelationIdFilter(logging.Filter):
    """Adds `correlation_id` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):  # the access log passes it already
            record.correlation_id = correlation_id() if has_request_context() else "-"
        return True
