"""Conditional requests, merge patch and limits over real HTTP against the real process."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.server_process import RunningServer

pytestmark = pytest.mark.e2e

MAC = "7c-9e-bd-00-00-02"
LIMIT = 4096


SERVER_ENV = {"MAX_CONFIG_BYTES": str(LIMIT)}


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        client.delete(f"/api/configs/{MAC}")
        yield client


def test_a_polling_device_gets_304_while_nothing_changed(http: httpx.Client) -> None:
    saved = http.put(f"/api/configs/{MAC}", json={"content": {"interval": 60}})
    etag = saved.headers["etag"]
    first = http.get(f"/api/configs/{MAC}.json")
    assert first.headers["etag"] == etag
    assert first.headers["last-modified"]

    polled = http.get(f"/api/configs/{MAC}.json", headers={"If-None-Match": etag})
    assert polled.status_code == 304
    assert polled.content == b""
    assert polled.headers["etag"] == etag

    http.put(f"/api/configs/{MAC}", json={"content": {"interval": 30}})
    changed = http.get(f"/api/configs/{MAC}.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json() == {"interval": 30}


def test_an_editor_with_a_stale_etag_cannot_overwrite(http: httpx.Client) -> None:
    etag = http.put(f"/api/configs/{MAC}", json={"content": {"v": 1}}).headers["etag"]
    http.put(f"/api/configs/{MAC}", json={"content": {"v": 2}})

    stale = http.put(f"/api/configs/{MAC}", json={"content": {"v": 3}}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["code"] == "PRECONDITION_FAILED"
    assert http.get(f"/api/configs/{MAC}.json").json() == {"v": 2}

    create_only = http.put(
        f"/api/configs/{MAC}", json={"content": {}}, headers={"If-None-Match": "*"}
    )
    assert create_only.status_code == 412


def test_merge_patch_over_http(http: httpx.Client) -> None:
    http.put(f"/api/configs/{MAC}", json={"content": {"a": 1, "b": {"c": 2, "d": 3}}})
    patched = http.patch(
        f"/api/configs/{MAC}",
        content=b'{"b": {"d": null}, "e": true}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200
    assert patched.json()["content"] == {"a": 1, "b": {"c": 2}, "e": True}
    assert patched.headers["etag"] == http.get(f"/api/configs/{MAC}").headers["etag"]

    as_json = http.patch(f"/api/configs/{MAC}", json={"a": 2})
    assert as_json.status_code == 200
    assert as_json.json()["content"] == {"a": 2, "b": {"c": 2}, "e": True}

    wrong_type = http.patch(
        f"/api/configs/{MAC}", content=b'{"a": 3}', headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_duplicate_keys_are_refused_over_http(http: httpx.Client) -> None:
    response = http.put(
        f"/api/configs/{MAC}",
        content=b'{"content": {"ssid": "a", "ssid": "b"}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert http.get(f"/api/configs/{MAC}").status_code == 404


def raw_exchange(server: RunningServer, head: bytes, body: bytes) -> bytes:
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        headers, _, rest = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in headers.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(rest) < length:
            rest += connection.recv(65536)
        return headers.split(b"\r\n")[0] + b"\n" + rest


def test_an_oversized_body_is_refused_before_it_is_sent(server: RunningServer) -> None:
    """Only the headers and a few bytes are sent: the server answers 413 from Content-Length."""
    head = (
        f"PUT /api/configs/{MAC} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    ).encode()
    status, _, body = raw_exchange(server, head, b'{"content": {').partition(b"\n")
    assert b" 413" in status
    assert json.loads(body)["code"] == "PAYLOAD_TOO_LARGE"
    assert httpx.get(f"{server.base_url}/api/configs/{MAC}").status_code == 404


def test_an_oversized_chunked_body_is_refused(server: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"content": {"blob": "'
        for _ in range(4):
            yield b"x" * LIMIT
        yield b'"}}'

    response = httpx.put(
        f"{server.base_url}/api/configs/{MAC}",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert httpx.get(f"{server.base_url}/api/configs/{MAC}").status_code == 404
