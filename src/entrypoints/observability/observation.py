"""Every request observed once, whoever answers it: its correlation id chosen and echoed, and
when it is answered one access line and its request metrics.

The outermost ASGI layer, so the fast lane, Quart's routes, Quart's own errors and the
shutdown's 503 are all counted and logged the same way, by this code alone.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from hypercorn.typing import Scope
from quart import Quart, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Rule

from entrypoints.observability.correlation import (
    REQUEST_ID_HEADER,
    begin_request,
    current_request,
    end_request,
)
from entrypoints.observability.logs import client_address, log_access
from entrypoints.observability.metrics import Metrics

_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()


class ObservedRequests:
    def __init__(self, app: Any, *, metrics: Metrics, trust_proxy_headers: bool) -> None:
        self._app = app
        self._metrics = metrics
        self._trust_proxy_headers = trust_proxy_headers

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        in_flight, token = begin_request(scope["headers"])
        echoed = (_REQUEST_ID, in_flight.correlation_id.encode())
        status = 500  # what hypercorn answers if the app fails before it starts an answer
        sent = 0

        async def observing_send(message: dict[str, Any]) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message["headers"]
                if isinstance(headers, list):  # made for this answer (Quart's, the fast lane's)
                    headers.append(echoed)
                else:
                    message = {**message, "headers": [*headers, echoed]}
                await send(message)
                return
            await send(message)
            sent += len(message.get("body", b""))

        metrics = self._metrics
        metrics.requests_in_progress += 1
        try:
            await self._app(scope, receive, observing_send)
        finally:
            metrics.requests_in_progress -= 1
            end_request(token)
            seconds = time.perf_counter() - in_flight.started
            method = scope["method"]
            self._metrics.record_request(method, in_flight.route, status, seconds, sent)
            client = scope.get("client")
            log_access(
                method=method,
                route=in_flight.route,
                # `GET ?x` has no path at all; the line shows what was asked.
                path=scope["path"] or f"?{scope['query_string'].decode('latin-1')}",
                status=status,
                seconds=seconds,
                body_bytes=sent,
                client=client_address(
                    # Quart's word for a peer without an address (a Unix socket, a test client).
                    client[0] if client else "<local>",
                    in_flight.headers.get("x-forwarded-for"),
                    self._trust_proxy_headers,
                ),
                correlation_id=in_flight.correlation_id,
            )


def route_label(rule: str) -> str:
    """A Werkzeug rule as the OpenAPI document writes its path (`/api/configs/{mac_address}`):
    what dashboards show, without the framework's converter names."""
    return _CONVERTER.sub(r"{\1}", rule)


_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def name_routes(app: Quart) -> None:
    """Label each request Quart routes with its route's template; a method the route does not
    take (405) counts under that route too. Paths that match no route keep the shared label."""

    async def name_route() -> None:
        in_flight = current_request()
        if in_flight is None:
            return
        rule: Rule | None = request.url_rule
        failure = request.routing_exception
        if rule is None and isinstance(failure, MethodNotAllowed) and failure.valid_methods:
            with contextlib.suppress(HTTPException):
                adapter = app.create_url_adapter(request)
                if adapter is not None:
                    method = sorted(failure.valid_methods)[0]
                    rule, _ = adapter.match(method=method, return_rule=True)
        if rule is not None:
            in_flight.route = route_label(rule.rule)

    app.before_request(name_route)
