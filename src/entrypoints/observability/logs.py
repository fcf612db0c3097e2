"""Logging: one line per request, plain text or JSON, each carrying the request's correlation id.

Config contents are never logged: only methods, routes, statuses, sizes and file names.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from domain.text import escape_controls
from entrypoints.observability.correlation import CorrelationIdFilter

access_logger = logging.getLogger("iot_support.access")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"
# Fields of an access record, in the order JSON lines show them.
ACCESS_FIELDS = ("method", "route", "path", "status", "duration_ms", "bytes", "client")


class TextFormatter(logging.Formatter):
    """One readable line per record; a traceback, when there is one, on the lines after it.
    Control characters are written escaped: a path with a decoded `%0a` could otherwise end the
    line and forge another (a fake access line from a fake client). JSON lines escape them by
    themselves."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return escape_controls(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, and for access
    records the request's fields; a traceback, when there is one, under `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", "-"),
        }
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(CorrelationIdFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


def log_access(
    *,
    method: str,
    route: str,
    path: str,
    status: int,
    seconds: float,
    body_bytes: int,
    client: str,
    correlation_id: str,
) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 3)
    # The record is made here rather than by `access_logger.info`, which would walk the stack
    # to find the calling line (`findCaller`), the largest part of an access line's cost; an
    # access line's origin is always this function.
    record = access_logger.makeRecord(
        access_logger.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s %.1fms %dB client=%s id=%s",
        (method, path, status, duration_ms, body_bytes, client, correlation_id),
        None,
        "log_access",
        {
            "correlation_id": correlation_id,
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "bytes": body_bytes,
            "client": client,
        },
    )
    access_logger.handle(record)


def client_address(peer: str | None, forwarded_for: str | None, trust_proxy_headers: bool) -> str:
    """The caller's address. Behind a trusted reverse proxy, the address that proxy saw: the
    last entry of X-Forwarded-For (earlier entries are whatever the client chose to send)."""
    if trust_proxy_headers and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return peer or "-"
