"""The request in flight: its correlation id (taken from the caller when sane, else new), its
route template once known, and when it started; and the log filter that stamps the id on every
record logged while the request is handled."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from typing import Any

import attrs

REQUEST_ID_HEADER = "X-Request-ID"
_INCOMING_HEADERS = ("x-request-id", "x-correlation-id")
# Ids end up in logs and headers: anything outside this shape is replaced, not echoed.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
# Requests that match no route share one label, so scanning random URLs cannot grow the series.
UNMATCHED_ROUTE = "<unmatched>"


@attrs.define
class RequestInFlight:
    # By lower-case name; a repeated header counts by its first line, as Werkzeug's
    # `headers.get` reads it.
    headers: dict[str, str]
    correlation_id: str
    started: float = attrs.field(factory=time.perf_counter)
    # Set by whoever routes the request (the fast lane, or Quart's before_request hook).
    route: str = UNMATCHED_ROUTE


# Set by `observation.ObservedRequests` for the whole of each request; Quart's request task and
# worker threads started with the context (`asyncio.to_thread`) see the same object.
_current: ContextVar[RequestInFlight | None] = ContextVar("request_in_flight", default=None)


def begin_request(raw_headers: Iterable[tuple[bytes, bytes]]) -> tuple[RequestInFlight, Token[Any]]:
    """Start a request with these (ASGI) headers; pass the token to `end_request` once it is
    answered."""
    headers = first_values(raw_headers)
    request = RequestInFlight(headers, choose_correlation_id(headers.get))
    return request, _current.set(request)


def first_values(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw_headers:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def end_request(token: Token[Any]) -> None:
    _current.reset(token)


def current_request() -> RequestInFlight | None:
    return _current.get()


def correlation_id() -> str:
    """The current request's id. Outside any request (a test calling a handler alone) a new id,
    so an answer never lacks one."""
    request = _current.get()
    return request.correlation_id if request is not None else uuid.uuid4().hex


def choose_correlation_id(header: Callable[[str], str | None]) -> str:
    """The caller's X-Request-ID (or X-Correlation-ID) when it looks like an id, else a new one."""
    for name in _INCOMING_HEADERS:
        value = header(name)
        if value and _SAFE_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


class CorrelationIdFilter(logging.Filter):
    """Adds `correlation_id` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):  # the access log passes it already
            request = _current.get()
            record.correlation_id = request.correlation_id if request is not None else "-"
        return True
