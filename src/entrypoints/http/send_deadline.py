"""Slow readers: every answer leaves in bounded pieces, each with a deadline.

A client that asks for a large config and then reads slowly, or not at all, would otherwise
hold its whole answer in the process (asyncio buffers everything written to a transport) for
as long as it keeps the connection: 100 such clients held 28 MB each, seen here. Sent in
pieces of `CHUNK_BYTES`, each awaited until the transport has taken it, a connection holds at
most about two pieces beside the answer its request read, whatever the answer's size. A piece
the client does not take within the deadline cuts the answer: the rest is dropped, the
connection is closed by hypercorn's read timeout, and the kernel drops a peer that
acknowledges nothing for as long (`listening_socket`, TCP_USER_TIMEOUT).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from hypercorn.typing import Scope

logger = logging.getLogger("iot_support")

CHUNK_BYTES = 64 * 1024


class SendDeadline:
    def __init__(self, app: Any, *, timeout_seconds: float) -> None:
        self._app = app
        self._timeout = timeout_seconds

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        cut = False

        async def send_in_time(message: dict[str, Any]) -> None:
            nonlocal cut
            if cut:
                return
            if (
                message["type"] != "http.response.body"
                or len(message.get("body", b"")) <= CHUNK_BYTES
            ):
                # Small messages go straight on, without a timer (a timer per send cost a
                # quarter of a device fetch): one piece cannot hold much, and a peer that
                # takes nothing at all is dropped by the kernel (TCP_USER_TIMEOUT).
                await send(message)
                return
            try:
                for piece in _pieces(message):
                    async with asyncio.timeout(self._timeout):
                        await send(piece)
            except TimeoutError:
                cut = True
                logger.warning(
                    "answer to %s %s cut: the client took nothing for %g s",
                    scope["method"],
                    scope["path"],
                    self._timeout,
                )

        await self._app(scope, receive, send_in_time)


def _pieces(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A large body's pieces, made one at a time (a slice is a copy)."""
    body = message["body"]
    more_body = message.get("more_body", False)
    for start in range(0, len(body), CHUNK_BYTES):
        end = start + CHUNK_BYTES
        yield {
            "type": "http.response.body",
            "body": body[start:end],
            "more_body": more_body or end < len(body),
        }
