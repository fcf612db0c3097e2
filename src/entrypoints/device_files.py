"""The device download's short path: `GET/HEAD /api/configs/<mac>.json`, answered before Quart.

Devices fetch and poll their file far more often than anything else is asked, so this ASGI layer
answers the ordinary case itself (a valid MAC whose file is there and valid) with what the Quart
route `routes.get_config_file` would send: the same bytes, headers, validators and 304s, built by
the same functions, with the same metrics, access line and correlation id. Everything else (a
bad MAC, no file, a corrupt file, storage trouble, a browser's CORS request, any surprise) goes
on to that Quart route, so error answers are made in one place only.
"""

from __future__ import annotations

import re
import time
from typing import Any

from hypercorn.typing import HTTPScope, Scope

from domain.errors import InvalidMacAddress
from domain.model import MacAddress
from domain.use_cases import GetConfigDocument
from entrypoints.conditional import device_file_headers, unchanged_for
from entrypoints.correlation import REQUEST_ID_HEADER, choose_correlation_id
from entrypoints.logs import client_address, log_access
from entrypoints.metrics import Metrics

FILE_PATH = re.compile(r"/api/configs/([^/]+)\.json")


class DeviceFileShortPath:
    def __init__(
        self,
        next_app: Any,
        *,
        route: str,
        fetch: GetConfigDocument,
        metrics: Metrics,
        trust_proxy_headers: bool,
    ) -> None:
        self._next = next_app
        self._route = route
        self._fetch = fetch
        self._metrics = metrics
        self._trust_proxy_headers = trust_proxy_headers

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        mac = self._device_file(scope)
        if mac is None:
            await self._next(scope, receive, send)
            return
        http: HTTPScope = scope  # type: ignore[assignment]
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in http["headers"]
        }
        if "origin" in headers:  # CORS is Quart's (quart-cors)
            await self._next(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            document = await self._fetch.execute(mac)
        except Exception:
            await self._next(scope, receive, send)
            return
        self._metrics.operation_succeeded("download", time.perf_counter() - started)

        fresh = unchanged_for(
            document, headers.get("if-none-match"), headers.get("if-modified-since")
        )
        status = 304 if fresh else 200
        correlation_id = choose_correlation_id(lambda name: headers.get(name.lower()))
        response_headers = [
            (name.lower().encode(), value.encode("latin-1"))
            for name, value in device_file_headers(document).items()
        ]
        response_headers += [
            (REQUEST_ID_HEADER.lower().encode(), correlation_id.encode()),
            (b"vary", b"Origin"),
        ]
        body = b""
        if not fresh:
            response_headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(document.body)).encode()),
            ]
            body = document.body if http["method"] == "GET" else b""
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

        seconds = time.perf_counter() - started
        self._metrics.record_request(http["method"], self._route, status, seconds, len(body))
        client = http.get("client")
        peer = client[0] if client else None
        log_access(
            method=http["method"],
            route=self._route,
            path=http["path"],
            status=status,
            seconds=seconds,
            body_bytes=len(body),
            client=client_address(peer, headers.get("x-forwarded-for"), self._trust_proxy_headers),
            correlation_id=correlation_id,
        )

    @staticmethod
    def _device_file(scope: Scope) -> MacAddress | None:
        """The MAC of a device-file request this path may answer, or None to pass it on."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        match = FILE_PATH.fullmatch(scope["path"])
        if match is None:
            return None
        try:
            return MacAddress.parse(match[1])
        except InvalidMacAddress:
            return None
