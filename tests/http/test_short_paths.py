"""The short paths (device downloads, health) answer exactly as the Quart routes would, and hand
everything unusual to them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import Quart

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.conftest import MAC
from tests.fakes import InMemoryDeviceConfigRepository

COMPARED_HEADERS = (
    "etag",
    "last-modified",
    "cache-control",
    "content-type",
    "content-length",
    "x-request-id",
    "vary",
)


@pytest.fixture
def quart_app(configs_dir: Path) -> Quart:
    (configs_dir / f"{MAC}.json").write_text('{\n  "deviceName": "Porch"\n}\n')
    return create_app(bootstrap(Settings(configs_dir=configs_dir)))


def client(asgi: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://test")


async def answers(
    quart_app: Quart, method: str, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    """The same request through the whole app (short path first) and through Quart alone."""
    async with client(quart_app) as whole, client(quart_app.asgi_app._app._next) as route_only:  # type: ignore[attr-defined]
        return (
            await whole.request(method, path, headers=headers),
            await route_only.request(method, path, headers=headers),
        )


async def etag_of(quart_app: Quart) -> str:
    async with client(quart_app) as http:
        return (await http.get(f"/api/configs/{MAC}.json")).headers["etag"]


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {}),
        ("HEAD", {}),
        ("GET", {"If-None-Match": "{etag}"}),
        ("GET", {"If-None-Match": '"other"'}),
        ("GET", {"If-None-Match": "*"}),
        ("GET", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}),
        ("GET", {"If-Modified-Since": "Fri, 01 Jan 2010 00:00:00 GMT"}),
        ("GET", {"X-Request-ID": "device-42"}),
    ],
)
async def test_the_short_path_answers_like_the_route(
    quart_app: Quart, method: str, headers: dict[str, str]
) -> None:
    etag = await etag_of(quart_app)
    headers = {name: value.format(etag=etag) for name, value in headers.items()}
    for path in (
        f"/api/configs/{MAC}.json",
        "/api/configs/AA:BB:CC:DD:EE:FF.json",
        f"/api/configs/{MAC}",
        "/api/configs/AA:BB:CC:DD:EE:FF",
    ):
        short, route = await answers(quart_app, method, path, headers)
        assert short.status_code == route.status_code
        assert short.content == route.content
        for name in COMPARED_HEADERS:
            if name == "x-request-id" and "X-Request-ID" not in headers:
                assert len(short.headers[name]) == len(route.headers[name]) == 32
                continue
            assert short.headers.get(name) == route.headers.get(name), name


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/api/configs/00-00-00-00-00-01.json", {}),  # no such config
        ("GET", "/api/configs/not-a-mac.json", {}),
        ("GET", f"/api/configs/{MAC}.json", {"Origin": "http://localhost:3000"}),
        ("PUT", f"/api/configs/{MAC}.json", {}),
        ("GET", "/api/configs/00-00-00-00-00-01", {}),
        ("GET", "/api/configs/not-a-mac", {}),
        ("GET", f"/api/configs/{MAC}/", {}),
        ("GET", f"/api/configs/{MAC}/extra", {}),
        ("GET", f"/api/configs/{MAC}", {"Origin": "http://localhost:3000"}),
        ("DELETE", "/api/configs/00-00-00-00-00-01", {}),
        ("GET", "/api/health", {"Origin": "http://localhost:3000"}),
    ],
)
async def test_everything_else_is_the_routes_to_answer(
    quart_app: Quart, method: str, path: str, headers: dict[str, str]
) -> None:
    short, route = await answers(quart_app, method, path, headers)
    assert short.status_code == route.status_code
    assert short.headers.get("content-type") == route.headers.get("content-type")
    if short.status_code >= 400:
        assert short.json()["code"] == route.json()["code"]
    if "Origin" in headers:
        assert short.headers["access-control-allow-origin"] == "http://localhost:3000"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("storage", ["present", "missing", "not a directory"])
async def test_health_answers_like_its_route(
    quart_app: Quart, configs_dir: Path, method: str, storage: str
) -> None:
    if storage != "present":
        for file in configs_dir.iterdir():
            file.unlink()
        configs_dir.rmdir()
        if storage == "not a directory":
            configs_dir.write_text("")
    headers = {"X-Request-ID": "probe-1"}
    short, route = await answers(quart_app, method, "/api/health", headers)
    assert short.status_code == route.status_code == (200 if storage == "present" else 503)
    assert short.content == route.content
    for name in COMPARED_HEADERS:
        assert short.headers.get(name) == route.headers.get(name), name
    if method == "GET" and storage != "present":
        body = short.json()
        assert body["status"] == "unhealthy"
        assert body["code"] == "STORAGE_UNAVAILABLE"
        assert body["correlationId"] == "probe-1"
        assert body["reason"] == {"missing": "directory_missing"}.get(storage, "not_a_directory")


async def test_the_ordinary_requests_never_reach_quart(quart_app: Quart) -> None:
    async def quart_is_not_asked(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError(f"handed on: {scope['method']} {scope['path']}")

    quart_app.asgi_app._app._next = quart_is_not_asked  # type: ignore[attr-defined]
    async with client(quart_app) as http:
        assert (await http.get("/api/health")).status_code == 200
        assert (await http.head("/api/health")).status_code == 200
        assert (await http.get(f"/api/configs/{MAC}.json")).status_code == 200
        assert (await http.get(f"/api/configs/{MAC}")).status_code == 200
        with pytest.raises(AssertionError, match="handed on: GET /api/configs"):
            await http.get("/api/configs")


@pytest.mark.parametrize(
    ("path", "route", "operation"),
    [
        (f"/api/configs/{MAC}.json", "/api/configs/<path:mac_address>.json", "download"),
        (f"/api/configs/{MAC}", "/api/configs/<mac:mac_address>", "get"),
        ("/api/health", "/api/health", None),
    ],
)
async def test_each_short_path_is_counted_and_logged_like_its_route(
    quart_app: Quart,
    caplog: pytest.LogCaptureFixture,
    path: str,
    route: str,
    operation: str | None,
) -> None:
    with caplog.at_level("INFO", logger="iot_support.access"):
        async with client(quart_app) as http:
            assert (await http.get(path, headers={"X-Request-ID": "req-1"})).status_code == 200
            metrics = (await http.get("/metrics")).text
    (line,) = [r for r in caplog.records if getattr(r, "path", "") == path]
    assert line.route == route  # type: ignore[attr-defined]
    assert line.correlation_id == "req-1"  # type: ignore[attr-defined]
    assert f'http_requests_total{{method="GET",route="{route}",status="200"}} 1.0' in metrics
    if operation is not None:
        counted = f'iot_config_operations_total{{operation="{operation}",status="success"}} 1.0'
        assert counted in metrics


async def test_a_corrupt_file_is_the_routes_to_answer(quart_app: Quart, configs_dir: Path) -> None:
    (configs_dir / f"{MAC}.json").write_text("[1, 2]")
    for path in (f"/api/configs/{MAC}", f"/api/configs/{MAC}.json"):
        short, route = await answers(quart_app, "GET", path, {})
        assert short.status_code == route.status_code == 500
        assert short.json()["code"] == route.json()["code"] == "CONFIG_CORRUPT"


async def test_a_health_check_that_breaks_unexpectedly_is_answered_in_the_envelope(
    configs_dir: Path,
) -> None:
    class BrokenCheck(InMemoryDeviceConfigRepository):
        async def check(self) -> None:
            raise RuntimeError("a bug, not a storage failure")

    app = create_app(bootstrap(Settings(configs_dir=configs_dir), repository=BrokenCheck()))
    async with client(app) as http:
        response = await http.get("/api/health", headers={"X-Request-ID": "probe-2"})
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert response.json()["correlationId"] == "probe-2"
    assert "a bug" not in response.text


async def test_a_repeated_header_is_read_as_the_route_reads_it(quart_app: Quart) -> None:
    etag = await etag_of(quart_app)
    repeated = [("If-None-Match", etag), ("If-None-Match", '"other"'), ("X-Request-ID", "first")]
    repeated.append(("X-Request-ID", "second"))
    for path in (f"/api/configs/{MAC}.json", f"/api/configs/{MAC}", "/api/health"):
        async with client(quart_app) as whole, client(quart_app.asgi_app._app._next) as route_only:  # type: ignore[attr-defined]
            short = await whole.get(path, headers=repeated)
            route = await route_only.get(path, headers=repeated)
        assert short.status_code == route.status_code
        assert short.headers["x-request-id"] == route.headers["x-request-id"] == "first"
