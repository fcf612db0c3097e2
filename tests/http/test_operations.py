"""Metrics, health bounds and access logs, as an operator sees them."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import shutil
import threading
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from quart.typing import TestClientProtocol as Client

from adapters.filesystem import FilesystemDeviceConfigRepository, files
from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.observability.logs import JsonFormatter
from entrypoints.settings import Settings
from tests.conftest import MAC
from tests.fakes import InMemoryDeviceConfigRepository


async def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = await (await client.get("/metrics")).get_data(as_text=True)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


CONFIG_ROUTE = "/api/configs/{mac_address}"
FILE_ROUTE = "/api/configs/{mac_address}.json"


async def test_http_metrics_use_route_templates_and_move_with_requests(client: Client) -> None:
    before = await scrape(client)
    await client.put(f"/api/configs/{MAC}", json={"content": {"v": 1}})
    await client.get(f"/api/configs/{MAC}")
    await client.get("/api/configs/00-00-00-00-00-01")
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("http_requests_total", method="PUT", route=CONFIG_ROUTE, status="200") == 1
    assert delta("http_requests_total", method="GET", route=CONFIG_ROUTE, status="200") == 1
    assert delta("http_requests_total", method="GET", route=CONFIG_ROUTE, status="404") == 1
    assert delta("http_request_duration_seconds_count", method="GET", route=CONFIG_ROUTE) == 2
    assert delta("http_response_body_bytes_total", method="GET", route=CONFIG_ROUTE) > 0
    assert value(after, "http_requests_in_progress") == 1  # the scrape itself
    assert not [key for key in after if MAC in str(key)]


async def test_unknown_urls_share_one_route_label(client: Client) -> None:
    for i in range(20):
        await client.get(f"/scan/{i}/admin.php")
    samples = await scrape(client)
    routes = {
        dict(labels).get("route") for name, labels in samples if name == "http_requests_total"
    }
    assert "<unmatched>" in routes
    assert not [r for r in routes if r and "scan" in r]
    assert (
        value(samples, "http_requests_total", method="GET", route="<unmatched>", status="404") == 20
    )


async def test_unknown_methods_share_one_method_label(client: Client) -> None:
    for method in ("FOO", "BREW", "PROPFIND"):
        # quart.typing declares `json` without its default; the client itself has one.
        await client.open("/api/configs", method=method)  # type: ignore[call-arg]
    samples = await scrape(client)
    methods = {
        dict(labels).get("method") for name, labels in samples if name == "http_requests_total"
    }
    assert methods == {"OTHER"}  # the scrape itself is counted once it has answered


async def test_304s_and_storage_errors_are_counted(client: Client, configs_dir: Path) -> None:
    etag = (await client.put(f"/api/configs/{MAC}", json={"content": {}})).headers["ETag"]
    await client.get(f"/api/configs/{MAC}.json", headers={"If-None-Match": etag})
    before = await scrape(client)
    assert value(before, "iot_storage_readable") == 1
    assert value(before, "iot_config_files_count") == 1
    shutil.rmtree(configs_dir)
    await client.get("/api/configs")
    await client.get(f"/api/configs/{MAC}.json")
    for _ in range(3):
        await client.get("/api/health")
        samples = await scrape(client)
    assert value(samples, "iot_config_not_modified_total", route=FILE_ROUTE) == 1
    # The two operations, not the probes and scrapes: those show as state instead.
    assert value(samples, "iot_storage_errors_total", kind="directory_missing") == 2
    assert value(samples, "iot_storage_readable") == 0
    assert math.isnan(value(samples, "iot_config_files_count"))


async def test_build_info_names_version_and_python(client: Client) -> None:
    samples = await scrape(client)
    build = [labels for name, labels in samples if name == "iot_support_build_info"]
    assert len(build) == 1
    assert {key for key, _ in build[0]} == {"version", "python"}


async def test_openmetrics_when_the_scraper_asks_for_it(client: Client) -> None:
    response = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    text = await response.get_data(as_text=True)
    assert text.endswith("# EOF\n")
    names = {family.name for family in openmetrics_families(text)}  # type: ignore[no-untyped-call]
    assert {"iot_config_operations", "http_requests", "iot_config_files_count"} <= names


# Health stays cheap and bounded


class HangingRepository(InMemoryDeviceConfigRepository):
    async def check(self) -> None:
        await asyncio.Event().wait()


async def test_health_answers_timeout_when_storage_hangs(tmp_path: Path) -> None:
    settings = Settings(configs_dir=tmp_path, health_timeout_seconds=0.05)
    app = create_app(bootstrap(settings, repository=HangingRepository()))
    response = await asyncio.wait_for(app.test_client().get("/api/health"), timeout=5)
    assert response.status_code == 503
    body = await response.get_json()
    assert body["reason"] == "timeout"
    assert body["status"] == "unhealthy"


async def test_a_hung_filesystem_ties_up_one_thread_however_often_it_is_probed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path)
    release = threading.Event()
    calls = []

    def hanging_check(directory: Path) -> None:
        calls.append(1)
        release.wait(timeout=10)

    monkeypatch.setattr(files, "check_directory", hanging_check)
    app = create_app(
        bootstrap(
            Settings(configs_dir=tmp_path, health_timeout_seconds=0.02), repository=repository
        )
    )
    client = app.test_client()
    for _ in range(10):
        assert (await client.get("/api/health")).status_code == 503
    assert len(calls) == 1
    release.set()
    await asyncio.sleep(0.05)
    assert (await client.get("/api/health")).status_code == 200


# Access logs


async def test_one_access_line_per_request_without_config_contents(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="iot_support.access"):
        await client.put(
            f"/api/configs/{MAC}",
            json={"content": {"wifiPassword": "hunter2-secret"}},
            headers={"X-Request-ID": "req-7"},
        )
    records = [r for r in caplog.records if r.name == "iot_support.access"]
    assert len(records) == 1
    record = records[0]
    assert (record.method, record.route, record.status) == ("PUT", CONFIG_ROUTE, 200)  # type: ignore[attr-defined]
    assert record.bytes > 0  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
    assert "req-7" in record.getMessage()
    assert "hunter2" not in caplog.text


# Quart's test client reports its own address as "<local>".
@pytest.mark.parametrize(("trust", "expected"), [(False, "<local>"), (True, "10.0.0.9")])
async def test_forwarded_for_is_honoured_only_when_trusted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, trust: bool, expected: str
) -> None:
    app = create_app(bootstrap(Settings(configs_dir=tmp_path, trust_proxy_headers=trust)))
    with caplog.at_level(logging.INFO, logger="iot_support.access"):
        await app.test_client().get("/api/health", headers={"X-Forwarded-For": "6.6.6.6, 10.0.0.9"})
    (record,) = [r for r in caplog.records if r.name == "iot_support.access"]
    assert record.client == expected  # type: ignore[attr-defined]


def test_json_log_lines_carry_the_access_fields() -> None:
    record = logging.LogRecord(
        "iot_support.access", logging.INFO, __file__, 1, "GET /x 200", None, None
    )
    record.correlation_id = "abc"
    record.method, record.route, record.status = "GET", "/x", 200
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /x 200"
    assert line["correlation_id"] == "abc"
    assert (line["method"], line["route"], line["status"]) == ("GET", "/x", 200)
    assert line["level"] == "INFO"


async def test_notifications_switched_off_are_told_apart_from_a_broker_that_is_down(
    client: Client,
) -> None:
    samples = await scrape(client)
    assert samples[("iot_mqtt_enabled", ())] == 0.0
    assert samples[("iot_mqtt_connected", ())] == 0.0


async def test_broken_files_show_in_the_metrics_from_start_without_anyone_listing(
    tmp_path: Path,
) -> None:
    (tmp_path / "aa-bb-cc-dd-ee-01.json").write_text("[1, 2]")
    app = create_app(bootstrap(Settings(configs_dir=tmp_path)))
    async with app.test_app():
        client = app.test_client()
        for _ in range(200):  # the start-up listing runs in the background
            samples = await scrape(client)
            if ("iot_config_files_skipped", (("reason", "not_an_object"),)) in samples:
                break
            await asyncio.sleep(0.01)
    assert value(samples, "iot_config_files_skipped", reason="not_an_object") == 1.0


async def test_a_method_a_route_does_not_take_is_counted_under_that_route(client: Client) -> None:
    assert (await client.post("/api/configs")).status_code == 405
    assert (await client.put(f"/api/configs/{MAC}.json")).status_code == 405
    assert (await client.post("/metrics")).status_code == 405
    assert (await client.get("/api/nowhere")).status_code == 404
    samples = await scrape(client)
    for method, route in [
        ("POST", "/api/configs"),
        ("PUT", "/api/configs/{mac_address}.json"),
        ("POST", "/metrics"),
        ("GET", "<unmatched>"),
    ]:
        status = "404" if route == "<unmatched>" else "405"
        labels = {"method": method, "route": route, "status": status}
        assert value(samples, "http_requests_total", **labels) == 1.0, (method, route)


async def test_counters_exist_at_zero_before_their_first_event(client: Client) -> None:
    samples = await scrape(client)
    for operation in ("list", "get", "download", "save", "patch", "delete"):
        labels = (("operation", operation), ("status", "success"))
        assert samples[("iot_config_operations_total", labels)] == 0.0
    for kind in ("directory_missing", "disk_full", "read_only", "locked"):
        assert samples[("iot_storage_errors_total", (("kind", kind),))] == 0.0
    for route in ("/api/configs/{mac_address}.json", "/api/configs/{mac_address}"):
        assert samples[("iot_config_not_modified_total", (("route", route),))] == 0.0
    for reason in ("bad_name", "invalid_json", "not_an_object", "symlink", "too_deep"):
        assert samples[("iot_config_files_skipped", (("reason", reason),))] == 0.0
