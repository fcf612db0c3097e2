"""SendDeadline: answers leave in bounded pieces, and a piece nobody takes cuts the answer."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from entrypoints.http.send_deadline import CHUNK_BYTES, SendDeadline
from entrypoints.observability.correlation import CorrelationIdFilter
from entrypoints.observability.metrics import Metrics
from entrypoints.observability.observation import ObservedRequests

HTTP_SCOPE: Any = {"type": "http", "method": "GET", "path": "/api/configs/x.json"}


def answering(body: bytes) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"x-request-id", b"req-1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


def test_a_large_body_leaves_in_pieces_that_add_up_to_it() -> None:
    body = bytes(range(256)) * (CHUNK_BYTES * 3 // 256 + 7)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(SendDeadline(answering(body), timeout_seconds=1)(HTTP_SCOPE, None, send))
    pieces = sent[1:]
    assert len(pieces) == 4
    assert all(len(piece["body"]) <= CHUNK_BYTES for piece in pieces)
    assert b"".join(piece["body"] for piece in pieces) == body
    assert [piece["more_body"] for piece in pieces] == [True, True, True, False]


def test_a_small_body_is_sent_as_it_is() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(SendDeadline(answering(b"{}"), timeout_seconds=1)(HTTP_SCOPE, None, send))
    assert sent[1] == {"type": "http.response.body", "body": b"{}", "more_body": False}


def test_a_piece_not_taken_in_time_cuts_the_answer(caplog: pytest.LogCaptureFixture) -> None:
    body = b"x" * (CHUNK_BYTES * 4)
    taken: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        if len(taken) == 2:  # the headers and one piece, then the client stops reading
            await asyncio.sleep(3600)
        taken.append(message)

    # As the app stacks it: the observation layer outside knows the request's id.
    deadline = ObservedRequests(
        SendDeadline(answering(body), timeout_seconds=0.05),
        metrics=Metrics(),
        trust_proxy_headers=False,
    )
    scope: Any = {**HTTP_SCOPE, "headers": [(b"x-request-id", b"req-1")], "query_string": b""}
    caplog.handler.addFilter(CorrelationIdFilter())
    with caplog.at_level(logging.WARNING, logger="iot_support"):
        asyncio.run(asyncio.wait_for(deadline(scope, None, send), timeout=5))
    assert len(taken) == 2  # nothing more was tried after the cut
    [record] = [r for r in caplog.records if r.name == "iot_support"]
    assert "answer to GET /api/configs/x.json cut" in record.getMessage()
    assert record.correlation_id == "req-1"  # type: ignore[attr-defined]
