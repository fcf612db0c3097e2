"""The short paths: the reads asked far more often than anything else, answered before Quart.

Devices fetch and poll their file (`GET/HEAD /api/configs/<mac>.json`), Kubernetes probes
`/api/health` on every replica every few seconds, and admin UIs read configs one by one
(`GET/HEAD /api/configs/<mac>`). This ASGI layer answers the ordinary case of each itself with
what the Quart route would send: the same bytes, headers, validators and 304s, built by the same
functions, with the same metrics, access line and correlation id. It skips Quart's request and
response objects, contexts and hooks, which cost more than the work itself.

Everything else goes on to the Quart routes, so error answers are made in one place: a bad MAC,
no file, a corrupt file or storage trouble on a read; a browser's CORS request (any request with
`Origin`, which quart-cors answers); any other method or path. The health check answers every
outcome here, unhealthy included, through the function its route uses too: handing a timed-out
probe on would make it wait for the bound twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from hypercorn.typing import HTTPScope, Scope

from domain.errors import InvalidMacAddress
from domain.model import ConfigDocument, MacAddress
from domain.use_cases import CheckStorage, GetConfigDocument, GetDeviceConfig
from entrypoints.conditional import device_file_headers, unchanged_for, validators
from entrypoints.correlation import REQUEST_ID_HEADER, choose_correlation_id
from entrypoints.errors import error_body
from entrypoints.logs import client_address, log_access
from entrypoints.metrics import UNMATCHED_ROUTE, Metrics
from entrypoints.routes import (
    CONFIG_FILE_ROUTE,
    CONFIG_ROUTE,
    HEALTH_ROUTE,
    config_body,
    health_answer,
)

CONFIGS = "/api/configs/"
FILE_PATH = re.compile(r"/api/configs/([^/]+)\.json")
CONFIG_PATH = re.compile(r"/api/configs/([^/]+)")
JSON = (b"content-type", b"application/json")

Headers = list[tuple[bytes, bytes]]
# What a short path answers (status, headers, body as for GET), or None to hand the request on.
Answer = tuple[int, Headers, bytes] | None
Handler = Callable[[str, dict[str, str], str], Awaitable[Answer]]
T = TypeVar("T")


class ShortPaths:
    def __init__(
        self,
        next_app: Any,
        *,
        fetch: GetConfigDocument,
        get: GetDeviceConfig,
        check: CheckStorage,
        health_timeout: float,
        metrics: Metrics,
        trust_proxy_headers: bool,
    ) -> None:
        self._next = next_app
        self._fetch = fetch
        self._get = get
        self._check = check
        self._health_timeout = health_timeout
        self._metrics = metrics
        self._trust_proxy_headers = trust_proxy_headers

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        chosen = self._choose(scope)
        if chosen is None:
            await self._hand_on(scope, receive, send)
            return
        route, handler = chosen
        http: HTTPScope = scope  # type: ignore[assignment]
        headers: dict[str, str] = {}
        for name, value in http["headers"]:
            # A repeated header counts by its first line, as Werkzeug's `headers.get` reads it.
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        if "origin" in headers:  # CORS is Quart's (quart-cors)
            await self._next(scope, receive, send)
            return
        started = time.perf_counter()
        correlation_id = choose_correlation_id(lambda name: headers.get(name.lower()))
        answer = await handler(http["path"], headers, correlation_id)
        if answer is None:
            await self._next(scope, receive, send)
            return
        status, response_headers, body = answer
        if status != 304:
            response_headers += [JSON, (b"content-length", str(len(body)).encode())]
        response_headers += [
            (REQUEST_ID_HEADER.lower().encode(), correlation_id.encode()),
            (b"vary", b"Origin"),
        ]
        if http["method"] == "HEAD":
            body = b""
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

        seconds = time.perf_counter() - started
        self._metrics.record_request(http["method"], route, status, seconds, len(body))
        client = http.get("client")
        log_access(
            method=http["method"],
            route=route,
            path=http["path"] or f"?{http['query_string'].decode('latin-1')}",
            status=status,
            seconds=seconds,
            body_bytes=len(body),
            client=client_address(
                # Quart's word for a peer without an address (a Unix socket, a test client).
                client[0] if client else "<local>",
                headers.get("x-forwarded-for"),
                self._trust_proxy_headers,
            ),
            correlation_id=correlation_id,
        )

    async def _hand_on(self, scope: Scope, receive: Any, send: Any) -> None:
        """Quart answers; when the shutdown grace period ends first (hypercorn cancels the
        request), the client gets a 503 in the envelope instead of hypercorn's bare 500."""
        started = False

        async def noting_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._next(scope, receive, noting_send)
        except asyncio.CancelledError:
            if scope["type"] == "http" and not started:
                await _send_shutting_down(send, scope["headers"])
            raise

    def _choose(self, scope: Scope) -> tuple[str, Handler] | None:
        if scope["type"] != "http":
            return None
        if not scope["path"].startswith("/"):
            # `GET ?x`: no path at all, which Quart cannot route (it fails with a bare 500).
            return UNMATCHED_ROUTE, self._no_path
        names = {name for name, _ in scope["headers"]}
        if b"transfer-encoding" in names and b"content-length" in names:
            # h11 reads such a body as chunked; a proxy in front may have read it by its
            # length, so where one request ends is in doubt (request smuggling).
            return UNMATCHED_ROUTE, self._conflicting_framing
        if scope["method"] not in ("GET", "HEAD"):
            return None
        if scope["path"] == HEALTH_ROUTE:
            return HEALTH_ROUTE, self._health
        if scope["path"].startswith(CONFIGS):
            if scope["path"].endswith(".json"):
                return CONFIG_FILE_ROUTE, self._device_file
            return CONFIG_ROUTE, self._admin_get
        return None

    async def _device_file(self, path: str, headers: dict[str, str], _: str) -> Answer:
        document = await self._read(FILE_PATH, path, "download", self._fetch.execute)
        if document is None:
            return None
        response_headers = _encoded(device_file_headers(document))
        if _unchanged(document, headers):
            return 304, response_headers, b""
        return 200, response_headers, document.body

    async def _admin_get(self, path: str, headers: dict[str, str], _: str) -> Answer:
        stored = await self._read(CONFIG_PATH, path, "get", self._get.execute)
        if stored is None:
            return None
        document = stored.document
        if _unchanged(document, headers):
            return 304, _encoded(device_file_headers(document)), b""
        return 200, _encoded(validators(document)), config_body(stored)

    async def _read(
        self,
        pattern: re.Pattern[str],
        path: str,
        operation: str,
        execute: Callable[[MacAddress], Awaitable[T]],
    ) -> T | None:
        """What the use case reads for the MAC in `path`, timed and counted like the route's
        operation; None (hand the request on) for a bad MAC or any failure."""
        match = pattern.fullmatch(path)
        if match is None:
            return None
        try:
            mac = MacAddress.parse(match[1])
        except InvalidMacAddress:
            return None
        started = time.perf_counter()
        try:
            found = await execute(mac)
        except Exception:
            return None
        self._metrics.operation_succeeded(operation, time.perf_counter() - started)
        return found

    async def _no_path(self, _: str, __: dict[str, str], correlation_id: str) -> Answer:
        message = "The request target must be a path starting with '/'."
        return 400, [], error_body("BAD_REQUEST", message, correlation_id)

    async def _conflicting_framing(self, _: str, __: dict[str, str], correlation_id: str) -> Answer:
        """RFC 9112 section 6.3: answer 400 and close the connection, so nothing sent after this
        request's headers on it (a second request hidden in the body) is ever read."""
        message = "The request has both Content-Length and Transfer-Encoding; it is refused."
        return 400, [(b"connection", b"close")], error_body("BAD_REQUEST", message, correlation_id)

    async def _health(self, _: str, __: dict[str, str], correlation_id: str) -> Answer:
        try:
            status, body = await health_answer(
                self._check, self._health_timeout, self._metrics, correlation_id
            )
        except Exception:
            return None  # a surprise: the Quart route answers it, in the error envelope
        return status, [], body


async def _send_shutting_down(send: Any, request_headers: Iterable[tuple[bytes, bytes]]) -> None:
    by_name = {name.decode("latin-1").lower(): value for name, value in request_headers}
    correlation_id = choose_correlation_id(
        lambda name: by_name[name.lower()].decode("latin-1") if name.lower() in by_name else None
    )
    message = "The server is shutting down and could not finish this request; retry."
    body = error_body("SHUTTING_DOWN", message, correlation_id)
    headers = [
        JSON,
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
        (REQUEST_ID_HEADER.lower().encode(), correlation_id.encode()),
    ]
    with contextlib.suppress(Exception):  # the connection may be gone too
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _unchanged(document: ConfigDocument, headers: dict[str, str]) -> bool:
    return unchanged_for(document, headers.get("if-none-match"), headers.get("if-modified-since"))


def _encoded(headers: dict[str, str]) -> Headers:
    return [(name.lower().encode(), value.encode("latin-1")) for name, value in headers.items()]
