"""An HTTP answer before it is sent, and the contract's error envelope.

Nothing here knows Quart: the Quart routes (`responses.respond`) and the fast lane
(`fast_lane.send_answer`) each turn an `Answer` into their own kind of response, so what a
request answers is decided once, whichever of them carries it.
"""

from __future__ import annotations

from typing import Any

import attrs
import msgspec

JSON_TYPE = {"Content-Type": "application/json"}
# Answers without a body, which therefore have no Content-Type and no Content-Length.
BODYLESS = frozenset({204, 304})


@attrs.define
class Answer:
    """Status, headers and body. `headers` holds no Content-Length (each carrier counts what it
    sends) and, for a 204 or 304, no Content-Type."""

    status: int
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b""


def error(
    status: int,
    code: str,
    message: str,
    correlation_id: str,
    details: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Answer:
    """An answer in the contract's error envelope."""
    return Answer(
        status, dict(JSON_TYPE), error_body(code, message, correlation_id, details, extra)
    )


def error_body(
    code: str,
    message: str,
    correlation_id: str,
    details: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    envelope = {
        **(extra or {}),
        "error": message,
        "code": code,
        "details": details,
        "correlationId": correlation_id,
    }
    # An error answer must never fail itself: anything unexpected in details is written as text.
    return msgspec.json.encode(envelope, enc_hook=str)
