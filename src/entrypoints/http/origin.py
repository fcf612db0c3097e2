"""Who asked for a write, as history keeps it: the client, the user a trusted proxy named, and
the request's correlation id."""

from __future__ import annotations

from quart import request

from domain.history import WriteOrigin
from entrypoints.http.dependencies import resolve
from entrypoints.observability.correlation import correlation_id
from entrypoints.observability.logs import client_address
from entrypoints.settings import Settings

# A user name longer than this is not one a proxy set: cut, so a header cannot bloat history.
MAX_USER_CHARS = 256
USER_HEADERS = ("Remote-User", "X-Forwarded-User")


def write_origin() -> WriteOrigin:
    trusted = resolve(Settings).trust_proxy_headers
    user = None
    if trusted:
        user = next((request.headers[h] for h in USER_HEADERS if request.headers.get(h)), None)
    return WriteOrigin(
        client=client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), trusted),
        user=user[:MAX_USER_CHARS] if user else None,
        correlation_id=correlation_id(),
    )
