"""The fast lane: the reads asked far more often than anything else, answered in front of Quart.

Devices fetch and poll their file (`GET/HEAD /api/configs/<mac>.json`), Kubernetes probes
`/api/health` on every replica every few seconds, and admin UIs read configs one by one
(`GET/HEAD /api/configs/<mac>`). This ASGI layer answers each of them, errors included, with the
functions the Quart routes call (`answers.py`, `errors.failed`); it only skips Quart's request
and response objects, contexts and hooks, which cost more than the work itself. The outer layer
(`observation.py`) counts and logs its answers as it does Quart's.

It hands on to Quart only what it does not serve: a browser's request (any with `Origin`, whose
CORS headers quart-cors adds) and every other method or path. It also refuses what Quart cannot
route or must not read (no path at all; both Content-Length and Transfer-Encoding), and answers
`503 SHUTTING_DOWN` for a request handed on that the shutdown grace period cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from hypercorn.typing import HTTPScope, Scope

from domain.use_cases import GetConfigDocument, GetDeviceConfig, RecordCheckIn
from entrypoints.http.answer import BODYLESS, Answer, error
from entrypoints.http.answers import Caller, admin_config, device_file
from entrypoints.http.conditional import Conditions
from entrypoints.http.errors import failed
from entrypoints.http.routes import (
    CONFIG_FILE_ROUTE,
    CONFIG_ROUTE,
    DeviceFileConverter,
    MacAddressConverter,
)
from entrypoints.http.service_routes import HEALTH_ROUTE
from entrypoints.http.storage_checks import StorageChecks
from entrypoints.observability.correlation import correlation_id, current_request, first_values
from entrypoints.observability.metrics import Metrics
from entrypoints.observability.observation import route_label

# The routes' own path grammar (their converters' patterns), so both lanes read a path alike.
FILE_PATH = re.compile(rf"/api/configs/({DeviceFileConverter.regex})\.json")
CONFIG_PATH = re.compile(rf"/api/configs/({MacAddressConverter.regex})")

# The routes' metric labels, as `name_routes` writes them for Quart.
_FILE_LABEL = route_label(CONFIG_FILE_ROUTE)
_CONFIG_LABEL = route_label(CONFIG_ROUTE)

# A read: (MAC or "" as written in the path, request headers, the peer) -> its answer.
Read = Callable[[str, dict[str, str], str], Awaitable[Answer]]


class FastLane:
    def __init__(
        self,
        quart_app: Any,
        *,
        fetch: GetConfigDocument,
        get: GetDeviceConfig,
        storage: StorageChecks,
        metrics: Metrics,
        check_in: RecordCheckIn,
        trust_proxy_headers: bool,
    ) -> None:
        self._quart = quart_app
        self._fetch = fetch
        self._get = get
        self._storage = storage
        self._metrics = metrics
        self._check_in = check_in
        self._trust_proxy_headers = trust_proxy_headers

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._quart(scope, receive, send)
            return
        refusal = _refusal(scope)
        if refusal is not None:
            await send_answer(send, refusal, head=scope["method"] == "HEAD")
            return
        chosen = self._choose(scope["method"], scope["path"])
        if chosen is None:
            await self._hand_on(scope, receive, send)
            return
        route, read, mac_address = chosen
        in_flight = current_request()
        headers = first_values(scope["headers"]) if in_flight is None else in_flight.headers
        if "origin" in headers:
            await self._hand_on(scope, receive, send)
            return
        if in_flight is not None:
            in_flight.route = route
        client = scope.get("client")
        # Quart's word for a peer without an address (a Unix socket, a test client).
        peer = client[0] if client else "<local>"
        try:
            answer = await read(mac_address, headers, peer)
        except Exception as failure:
            answer = failed(failure, correlation_id(), f"{scope['method']} {scope['path']}")
        await send_answer(send, answer, head=scope["method"] == "HEAD")

    def _choose(self, method: str, path: str) -> tuple[str, Read, str] | None:
        if method not in ("GET", "HEAD"):
            return None
        if path == HEALTH_ROUTE:
            return HEALTH_ROUTE, self._health, ""
        match = FILE_PATH.fullmatch(path)
        if match is not None:
            return _FILE_LABEL, self._device_file, match[1]
        match = CONFIG_PATH.fullmatch(path)
        if match is not None:
            return _CONFIG_LABEL, self._admin_config, match[1]
        return None

    async def _device_file(self, mac_address: str, headers: dict[str, str], peer: str) -> Answer:
        return await device_file(
            self._fetch,
            self._metrics,
            self._check_in,
            mac_address,
            Conditions.of(headers.get),
            Caller.of(peer, headers.get, self._trust_proxy_headers),
        )

    async def _admin_config(self, mac_address: str, headers: dict[str, str], _: str) -> Answer:
        conditions = Conditions.of(headers.get)
        return await admin_config(self._get, self._metrics, mac_address, conditions)

    async def _health(self, _: str, __: dict[str, str], ___: str) -> Answer:
        return await self._storage.health(correlation_id())

    async def _hand_on(self, scope: HTTPScope, receive: Any, send: Any) -> None:
        """Quart answers; when the shutdown grace period ends first (hypercorn cancels the
        request), the client gets a 503 in the envelope instead of hypercorn's bare 500."""
        started = False

        async def noting_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._quart(scope, receive, noting_send)
        except asyncio.CancelledError:
            if not started:
                message = "The server is shutting down and could not finish this request; retry."
                answer = error(503, "SHUTTING_DOWN", message, correlation_id())
                answer.headers.update({"Retry-After": "1", "Connection": "close"})
                with contextlib.suppress(Exception):  # the connection may be gone too
                    await send_answer(send, answer, head=scope["method"] == "HEAD")
            raise


def _refusal(scope: HTTPScope) -> Answer | None:
    """What must be refused before anything routes or reads the request."""
    if not scope["path"].startswith("/"):
        # `GET ?x`: no path at all, which Quart cannot route (it fails with a bare 500).
        message = "The request target must be a path starting with '/'."
        return error(400, "BAD_REQUEST", message, correlation_id())
    names = {name for name, _ in scope["headers"]}
    if b"transfer-encoding" in names and b"content-length" in names:
        # h11 reads such a body as chunked; a proxy in front may have read it by its length,
        # so where one request ends is in doubt (request smuggling). RFC 9112 section 6.3:
        # answer 400 and close, so nothing sent after the headers (a hidden request) is read.
        message = "The request has both Content-Length and Transfer-Encoding; it is refused."
        answer = error(400, "BAD_REQUEST", message, correlation_id())
        answer.headers["Connection"] = "close"
        return answer
    return None


async def send_answer(send: Any, answer: Answer, *, head: bool) -> None:
    """Send `answer` as Quart would send it (`responses.respond`): a Content-Length unless it has
    no body, none of the body for HEAD, and `Vary: Origin`, since a request with `Origin` is
    answered with CORS headers (by quart-cors, in Quart)."""
    headers = [
        (name.lower().encode(), value.encode("latin-1")) for name, value in answer.headers.items()
    ]
    if answer.status not in BODYLESS:
        headers.append((b"content-length", str(len(answer.body)).encode()))
    headers.append((b"vary", b"Origin"))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else answer.body})
