"""The fast lane (device downloads, admin gets, health) answers exactly as the Quart routes
would, errors included, and hands on only browsers' requests and other routes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import Quart

from domain.model import ConfigDocument, MacAddress
from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.observability.correlation import CorrelationIdFilter
from entrypoints.settings import Settings
from tests.conftest import MAC
from tests.fakes import InMemoryDeviceConfigRepository

MISSING_MAC = "00-00-00-00-00-01"


@pytest.fixture
def settings(configs_dir: Path) -> Settings:
    (configs_dir / f"{MAC}.json").write_text('{\n  "deviceName": "Porch"\n}\n')
    return Settings(configs_dir=configs_dir, cors_origins=("http://localhost:3000",))


@pytest.fixture
def fast_app(settings: Settings) -> Quart:
    return create_app(bootstrap(settings))


@pytest.fixture
def quart_only(settings: Settings) -> Quart:
    return create_app(bootstrap(settings), fast_lane=False)


def remove(configs_dir: Path) -> None:
    """Take the configs directory away, as an unmounted share would."""
    for file in configs_dir.iterdir():
        file.unlink()
    configs_dir.rmdir()


def client(asgi: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://test")


async def both(
    fast_app: Quart, quart_only: Quart, method: str, path: str, headers: Any
) -> tuple[httpx.Response, httpx.Response]:
    """The same request through the app with its fast lane and through Quart's routes alone."""
    async with client(fast_app) as fast, client(quart_only) as routes:
        return (
            await fast.request(method, path, headers=headers),
            await routes.request(method, path, headers=headers),
        )


def assert_same(fast: httpx.Response, route: httpx.Response) -> None:
    """Status, body and every header alike (a header one side adds and the other does not
    fails here); only a correlation id made up for the request differs, in its value."""
    assert fast.status_code == route.status_code
    fast_id, route_id = fast.headers["x-request-id"], route.headers["x-request-id"]
    assert without_id(fast) == without_id(route)
    if fast_id != route_id:  # both made up: the same shape
        assert len(fast_id) == len(route_id) == 32
        assert fast.content.replace(fast_id.encode(), b"") == route.content.replace(
            route_id.encode(), b""
        )
    else:
        assert fast.content == route.content


def without_id(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted(item for item in response.headers.multi_items() if item[0] != "x-request-id")


async def etag_of(fast_app: Quart) -> str:
    async with client(fast_app) as http:
        return (await http.get(f"/api/configs/{MAC}.json")).headers["etag"]


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {}),
        ("HEAD", {}),
        ("GET", {"If-None-Match": "{etag}"}),
        ("HEAD", {"If-None-Match": "{etag}"}),
        ("GET", {"If-None-Match": '"other"'}),
        ("GET", {"If-None-Match": "*"}),
        ("GET", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}),
        ("GET", {"If-Modified-Since": "Fri, 01 Jan 2010 00:00:00 GMT"}),
        ("GET", {"X-Request-ID": "device-42"}),
    ],
)
async def test_the_fast_lane_answers_like_the_route(
    fast_app: Quart, quart_only: Quart, method: str, headers: dict[str, str]
) -> None:
    etag = await etag_of(fast_app)
    headers = {name: value.format(etag=etag) for name, value in headers.items()}
    for path in (
        f"/api/configs/{MAC}.json",
        "/api/configs/AA:BB:CC:DD:EE:FF.json",
        f"/api/configs/{MAC}",
        "/api/configs/AA:BB:CC:DD:EE:FF",
    ):
        assert_same(*await both(fast_app, quart_only, method, path, headers))


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", f"/api/configs/{MISSING_MAC}.json", {}),
        ("HEAD", f"/api/configs/{MISSING_MAC}.json", {}),
        ("GET", "/api/configs/not-a-mac.json", {}),
        ("GET", "/api/configs/a/b.json", {}),
        ("GET", f"/api/configs/{MISSING_MAC}", {}),
        ("GET", "/api/configs/not-a-mac", {}),
        ("GET", f"/api/configs/{MAC}/", {}),
        ("GET", f"/api/configs/{MAC}/extra", {}),
        ("GET", "/api/configs/.json", {}),
        ("GET", f"/api/configs/{MAC}.json", {"Origin": "http://localhost:3000"}),
        ("GET", f"/api/configs/{MAC}", {"Origin": "http://localhost:3000"}),
        ("GET", "/api/health", {"Origin": "http://localhost:3000"}),
        ("GET", f"/api/configs/{MAC}", {"Origin": "http://elsewhere"}),
        ("PUT", f"/api/configs/{MAC}.json", {}),
        ("DELETE", f"/api/configs/{MISSING_MAC}", {}),
        ("GET", "/api/nothing-here", {}),
    ],
)
async def test_errors_and_what_it_hands_on_are_answered_alike(
    fast_app: Quart, quart_only: Quart, method: str, path: str, headers: dict[str, str]
) -> None:
    headers = {"X-Request-ID": "req-7", **headers}
    fast, route = await both(fast_app, quart_only, method, path, headers)
    assert_same(fast, route)
    if fast.status_code >= 400 and method != "HEAD":
        assert fast.json()["correlationId"] == "req-7"
    if headers.get("Origin") == "http://localhost:3000":
        assert fast.headers["access-control-allow-origin"] == "http://localhost:3000"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("storage", ["present", "missing", "not a directory"])
async def test_health_answers_like_its_route(
    fast_app: Quart, quart_only: Quart, configs_dir: Path, method: str, storage: str
) -> None:
    if storage != "present":
        remove(configs_dir)
        if storage == "not a directory":
            configs_dir.write_text("")
    headers = {"X-Request-ID": "probe-1"}
    fast, route = await both(fast_app, quart_only, method, "/api/health", headers)
    assert_same(fast, route)
    assert fast.status_code == (200 if storage == "present" else 503)
    if method == "GET" and storage != "present":
        body = fast.json()
        assert body["status"] == "unhealthy"
        assert body["code"] == "STORAGE_UNAVAILABLE"
        assert body["correlationId"] == "probe-1"
        assert body["reason"] == {"missing": "directory_missing"}.get(storage, "not_a_directory")


async def test_the_reads_it_serves_never_reach_quart(fast_app: Quart) -> None:
    asked: list[str] = []

    async def quart_was_asked() -> None:
        from quart import request

        asked.append(f"{request.method} {request.path}")

    fast_app.before_request(quart_was_asked)
    async with client(fast_app) as http:
        assert (await http.get("/api/health")).status_code == 200
        assert (await http.head("/api/health")).status_code == 200
        assert (await http.get(f"/api/configs/{MAC}.json")).status_code == 200
        assert (await http.get(f"/api/configs/{MAC}")).status_code == 200
        assert (await http.get(f"/api/configs/{MISSING_MAC}.json")).status_code == 404
        assert (await http.get("/api/configs/not-a-mac")).status_code == 400
        assert asked == []
        assert (await http.get("/api/configs")).status_code == 200
        headers = {"Origin": "http://localhost:3000"}
        assert (await http.get(f"/api/configs/{MAC}.json", headers=headers)).status_code == 200
    assert asked == ["GET /api/configs", f"GET /api/configs/{MAC}.json"]


class CountingRepository(InMemoryDeviceConfigRepository):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_document(self, mac_address: MacAddress) -> ConfigDocument:
        self.reads += 1
        return await super().get_document(mac_address)


async def test_a_missing_config_is_read_once_and_answered_404(settings: Settings) -> None:
    repository = CountingRepository()
    app = create_app(bootstrap(settings, repository=repository))
    async with client(app) as http:
        response = await http.get(f"/api/configs/{MISSING_MAC}.json")
    assert response.status_code == 404
    assert response.json()["code"] == "RECORD_NOT_FOUND"
    assert repository.reads == 1


async def test_a_missing_directory_is_read_and_logged_once_per_request(
    fast_app: Quart, configs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    remove(configs_dir)
    with caplog.at_level(logging.ERROR):
        async with client(fast_app) as http:
            response = await http.get(f"/api/configs/{MAC}.json")
    assert response.status_code == 503
    # The answer's code, once (the adapter logs a failing directory when health checks it).
    logged = [(r.name, r.levelname) for r in caplog.records if r.name != "iot_support.access"]
    assert logged == [("entrypoints.http.errors", "ERROR")]


@pytest.mark.parametrize(
    ("path", "route", "operation"),
    [
        (f"/api/configs/{MAC}.json", "/api/configs/{mac_address}.json", "download"),
        (f"/api/configs/{MAC}", "/api/configs/{mac_address}", "get"),
        ("/api/health", "/api/health", None),
    ],
)
async def test_each_read_is_counted_and_logged_like_its_route(
    fast_app: Quart,
    caplog: pytest.LogCaptureFixture,
    path: str,
    route: str,
    operation: str | None,
) -> None:
    with caplog.at_level("INFO", logger="iot_support.access"):
        async with client(fast_app) as http:
            assert (await http.get(path, headers={"X-Request-ID": "req-1"})).status_code == 200
            metrics = (await http.get("/metrics")).text
    (line,) = [r for r in caplog.records if getattr(r, "path", "") == path]
    assert line.route == route  # type: ignore[attr-defined]
    assert line.correlation_id == "req-1"  # type: ignore[attr-defined]
    assert f'http_requests_total{{method="GET",route="{route}",status="200"}} 1.0' in metrics
    if operation is not None:
        counted = f'iot_config_operations_total{{operation="{operation}",status="success"}} 1.0'
        assert counted in metrics


async def test_a_corrupt_file_is_answered_like_the_route(
    fast_app: Quart, quart_only: Quart, configs_dir: Path
) -> None:
    (configs_dir / f"{MAC}.json").write_text("[1, 2]")
    for path in (f"/api/configs/{MAC}", f"/api/configs/{MAC}.json"):
        fast, route = await both(fast_app, quart_only, "GET", path, {"X-Request-ID": "r"})
        assert_same(fast, route)
        assert fast.status_code == 500
        assert fast.json()["code"] == "CONFIG_CORRUPT"


async def test_a_health_check_that_breaks_unexpectedly_is_answered_in_the_envelope(
    configs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenCheck(InMemoryDeviceConfigRepository):
        async def check(self) -> None:
            raise RuntimeError("a bug, not a storage failure")

    app = create_app(bootstrap(Settings(configs_dir=configs_dir), repository=BrokenCheck()))
    with caplog.at_level(logging.ERROR):
        async with client(app) as http:
            response = await http.get("/api/health", headers={"X-Request-ID": "probe-2"})
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert response.json()["correlationId"] == "probe-2"
    assert "a bug" not in response.text
    # Logged once, with its traceback, and not tried again by another route.
    [logged] = [r for r in caplog.records if r.name != "iot_support.access"]
    assert logged.getMessage() == "unexpected error on GET /api/health"
    assert logged.exc_info is not None


async def test_a_repeated_header_is_read_as_the_route_reads_it(
    fast_app: Quart, quart_only: Quart
) -> None:
    etag = await etag_of(fast_app)
    repeated = [("If-None-Match", etag), ("If-None-Match", '"other"'), ("X-Request-ID", "first")]
    repeated.append(("X-Request-ID", "second"))
    for path in (f"/api/configs/{MAC}.json", f"/api/configs/{MAC}", "/api/health"):
        fast, route = await both(fast_app, quart_only, "GET", path, repeated)
        assert_same(fast, route)
        assert fast.headers["x-request-id"] == "first"


async def test_every_line_logged_for_a_probe_carries_its_correlation_id(
    fast_app: Quart, configs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    remove(configs_dir)
    caplog.handler.addFilter(CorrelationIdFilter())
    with caplog.at_level(logging.INFO):
        async with client(fast_app) as http:
            response = await http.get("/api/health", headers={"X-Request-ID": "probe-9"})
    assert response.status_code == 503
    lines = [r for r in caplog.records if r.name != "httpx"]  # the test's own client
    assert {r.levelname for r in lines} >= {"ERROR", "INFO"}  # the failure, the access line
    assert {getattr(r, "correlation_id", None) for r in lines} == {"probe-9"}
