"""Health, metrics, docs, the error envelope, correlation ids and CORS through the test client."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart
from quart.typing import TestClientProtocol as Client

from domain.errors import StorageFailure
from domain.model import ConfigListing
from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.http import storage_checks
from entrypoints.settings import Settings
from tests.conftest import MAC
from tests.fakes import InMemoryDeviceConfigRepository
from tests.files import entries


def assert_error(body: Any, code: str) -> None:
    assert set(body) >= {"error", "code", "details", "correlationId"}
    assert body["code"] == code
    assert body["error"]


def sample(metrics_text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


# Health


async def test_health_is_200_healthy(client: Client) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert await response.get_json() == {
        "status": "healthy",
        "writes": {"status": "ok", "reason": None, "message": None},
    }


async def test_health_stays_200_while_writes_fail_and_says_so(tmp_path: Path) -> None:
    repository = InMemoryDeviceConfigRepository()
    repository.write_failure = StorageFailure.READ_ONLY
    app = create_app(bootstrap(Settings(configs_dir=tmp_path), repository=repository))
    client = app.test_client()
    response = await client.get("/api/health")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "healthy"
    assert body["writes"] == {
        "status": "failing",
        "reason": "read_only",
        "message": "Config storage is unavailable: the configs filesystem is read-only.",
    }
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert sample(metrics, "iot_storage_writable") == 0
    assert sample(metrics, "iot_storage_readable") == 1
    repository.write_failure = None
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert sample(metrics, "iot_storage_writable") == 1


class HangingWrites(InMemoryDeviceConfigRepository):
    async def check_writes(self) -> None:
        await asyncio.sleep(3600)


async def test_a_write_check_that_hangs_is_reported_as_failing_within_the_bound(
    tmp_path: Path,
) -> None:
    settings = Settings(configs_dir=tmp_path, health_timeout_seconds=0.05)
    app = create_app(bootstrap(settings, repository=HangingWrites()))
    client = app.test_client()
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert (await response.get_json())["writes"] == {
        "status": "failing",
        "reason": "timeout",
        "message": "The write check did not finish within 0.05 s.",
    }
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert sample(metrics, "iot_storage_writable") == 0


async def test_health_turns_503_while_the_directory_is_missing_and_recovers(
    client: Client, configs_dir: Path
) -> None:
    shutil.rmtree(configs_dir)
    response = await client.get("/api/health")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["status"] == "unhealthy"
    assert body["reason"] == "directory_missing"
    assert_error(body, "STORAGE_UNAVAILABLE")

    configs_dir.mkdir()
    response = await client.get("/api/health")
    assert response.status_code == 200


async def test_health_is_503_when_a_file_stands_in_for_the_directory(
    client: Client, configs_dir: Path
) -> None:
    shutil.rmtree(configs_dir)
    configs_dir.write_text("oops")
    response = await client.get("/api/health")
    assert response.status_code == 503
    assert (await response.get_json())["reason"] == "not_a_directory"


# Storage failures on the config routes


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/configs", None),
        ("GET", f"/api/configs/{MAC}", None),
        ("GET", f"/api/configs/{MAC}.json", None),
        ("PUT", f"/api/configs/{MAC}", {"content": {}}),
        ("DELETE", f"/api/configs/{MAC}", None),
    ],
)
async def test_missing_directory_is_503_storage_unavailable_on_every_route(
    client: Client, configs_dir: Path, method: str, path: str, body: Any
) -> None:
    shutil.rmtree(configs_dir)
    response = await client.open(path, method=method, json=body)
    assert response.status_code == 503
    payload = await response.get_json()
    assert_error(payload, "STORAGE_UNAVAILABLE")
    assert "configs directory does not exist" in payload["error"]
    assert str(configs_dir) not in payload["error"]
    assert not configs_dir.exists()


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (StorageFailure.DISK_FULL, "full"),
        (StorageFailure.READ_ONLY, "read-only"),
        (StorageFailure.PERMISSION_DENIED, "permission denied"),
    ],
)
async def test_storage_failure_message_says_what_failed(
    tmp_path: Path, failure: StorageFailure, words: str
) -> None:
    repository = InMemoryDeviceConfigRepository()
    repository.failure = failure
    app = create_app(bootstrap(Settings(configs_dir=tmp_path), repository=repository))
    response = await app.test_client().put(f"/api/configs/{MAC}", json={"content": {}})
    assert response.status_code == 503
    body = await response.get_json()
    assert_error(body, "STORAGE_UNAVAILABLE")
    assert words in body["error"]


# Metrics


async def test_metrics_count_operations_and_files(client: Client) -> None:
    await client.put(f"/api/configs/{MAC}", json={"content": {}})
    await client.get(f"/api/configs/{MAC}")
    await client.get("/api/configs/00-00-00-00-00-00")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.get_data(as_text=True)
    assert sample(text, "iot_config_operations_total", operation="save", status="success") == 1
    assert sample(text, "iot_config_operations_total", operation="get", status="success") == 1
    assert (
        sample(text, "iot_config_operations_total", operation="get", status="record_not_found") == 1
    )
    assert sample(text, "iot_config_operation_duration_seconds_count", operation="save") == 1
    assert sample(text, "iot_config_files_count") == 1
    assert sample(text, "process_cpu_seconds_total") is not None


@pytest.fixture
def every_scrape_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_checks, "LISTING_MAX_AGE_SECONDS", 0)


@pytest.mark.usefixtures("every_scrape_lists")
async def test_files_count_follows_changes_made_by_other_tools(
    client: Client, configs_dir: Path
) -> None:
    (configs_dir / f"{MAC}.json").write_text("{}")
    text = await (await client.get("/metrics")).get_data(as_text=True)
    assert sample(text, "iot_config_files_count") == 1
    (configs_dir / f"{MAC}.json").unlink()
    text = await (await client.get("/metrics")).get_data(as_text=True)
    assert sample(text, "iot_config_files_count") == 0


async def test_scrapes_in_quick_succession_share_a_listing_and_a_list_refreshes_it(
    client: Client, configs_dir: Path
) -> None:
    (configs_dir / f"{MAC}.json").write_text("{}")
    text = await (await client.get("/metrics")).get_data(as_text=True)
    assert sample(text, "iot_config_files_count") == 1
    (configs_dir / f"{MAC}.json").unlink()
    text = await (await client.get("/metrics")).get_data(as_text=True)
    # Within LISTING_MAX_AGE_SECONDS of the last listing: that listing stands.
    assert sample(text, "iot_config_files_count") == 1
    assert (await client.get("/api/configs")).status_code == 200
    text = await (await client.get("/metrics")).get_data(as_text=True)
    assert sample(text, "iot_config_files_count") == 0


async def test_metrics_still_answer_while_storage_is_missing(
    client: Client, configs_dir: Path
) -> None:
    shutil.rmtree(configs_dir)
    response = await client.get("/metrics")
    assert response.status_code == 200
    value = sample(await response.get_data(as_text=True), "iot_config_files_count")
    assert value is not None
    assert value != value  # NaN: unknown, not zero


async def test_two_apps_keep_separate_metrics(settings: Settings) -> None:
    first, second = create_app(bootstrap(settings)), create_app(bootstrap(settings))
    await first.test_client().get(f"/api/configs/{MAC}")
    text = await (await second.test_client().get("/metrics")).get_data(as_text=True)
    # No config is stored: the first app's get is counted as record_not_found, only there.
    assert (
        sample(text, "iot_config_operations_total", operation="get", status="record_not_found")
        is None
    )
    first_text = await (await first.test_client().get("/metrics")).get_data(as_text=True)
    counted = sample(
        first_text, "iot_config_operations_total", operation="get", status="record_not_found"
    )
    assert counted == 1


# Docs


async def test_docs_page_is_served(client: Client) -> None:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    assert "swagger-ui" in await response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/openapi.json", "/api/docs/openapi.json"])
async def test_openapi_document_names_the_contract_paths(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    document = await response.get_json()
    paths = document["paths"]
    assert set(paths) >= {
        "/api/configs",
        "/api/configs/{mac_address}",
        "/api/configs/{mac_address}.json",
        "/api/health",
    }
    assert set(paths["/api/configs/{mac_address}"]) >= {"get", "put", "delete"}
    parameters = paths["/api/configs/{mac_address}"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in parameters] == [
        ("mac_address", "path"),
        ("X-Request-ID", "header"),
        ("If-None-Match", "header"),
        ("If-Modified-Since", "header"),
    ]
    assert parameters[0]["schema"]["pattern"]
    assert "six pairs of hex digits" in parameters[0]["description"]
    assert parameters[0]["example"] == "02-00-00-00-00-01"
    put_body = paths["/api/configs/{mac_address}"]["put"]["requestBody"]
    reference = put_body["content"]["application/json"]["schema"]
    assert reference == {"$ref": "#/components/schemas/ConfigSaveRequestSchema.6be28b6"}
    schema = document["components"]["schemas"]["ConfigSaveRequestSchema.6be28b6"]
    assert schema["properties"] == {
        "content": {"type": "object", "additionalProperties": True},
        "allow_overwrite": {"type": "boolean", "default": True},
    }
    assert schema["required"] == ["content"]


# The error envelope for framework errors


async def test_unknown_route_is_404_in_the_envelope(client: Client) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert_error(await response.get_json(), "NOT_FOUND")


async def test_wrong_method_is_405_with_allow_header(client: Client) -> None:
    response = await client.post(f"/api/configs/{MAC}")
    assert response.status_code == 405
    assert_error(await response.get_json(), "METHOD_NOT_ALLOWED")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "PUT", "DELETE"} <= allowed


async def test_body_over_the_limit_is_413_and_writes_nothing(tmp_path: Path) -> None:
    configs_dir = tmp_path / "configs"
    configs_dir.mkdir()
    app = create_app(bootstrap(Settings(configs_dir=configs_dir, max_config_bytes=100)))
    response = await app.test_client().put(
        f"/api/configs/{MAC}", json={"content": {"blob": "x" * 200}}
    )
    assert response.status_code == 413
    body = await response.get_json()
    assert_error(body, "PAYLOAD_TOO_LARGE")
    assert "100 byte" in body["error"]
    assert entries(configs_dir) == []


class ExplodingRepository(InMemoryDeviceConfigRepository):
    async def list_summaries(self) -> ConfigListing:
        raise RuntimeError("boom in /srv/secret/configs")


async def test_unexpected_error_is_500_without_trace_or_path(tmp_path: Path) -> None:
    app = create_app(bootstrap(Settings(configs_dir=tmp_path), repository=ExplodingRepository()))
    response = await app.test_client().get("/api/configs", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    body = await response.get_json()
    assert_error(body, "INTERNAL_ERROR")
    assert body["correlationId"] == "req-42"
    raw = await response.get_data(as_text=True)
    assert "/srv/secret" not in raw
    assert "Traceback" not in raw
    assert "boom" not in raw


# Correlation ids


async def test_request_id_is_echoed_in_header_and_error_body(client: Client) -> None:
    response = await client.get(f"/api/configs/{MAC}", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert (await response.get_json())["correlationId"] == "abc-123"


async def test_correlation_id_header_is_accepted_too(client: Client) -> None:
    response = await client.get("/api/health", headers={"X-Correlation-ID": "corr-7"})
    assert response.headers["X-Request-ID"] == "corr-7"


async def test_request_id_is_generated_when_absent_and_differs_per_request(
    client: Client,
) -> None:
    first = await client.get(f"/api/configs/{MAC}")
    second = await client.get(f"/api/configs/{MAC}")
    assert first.headers["X-Request-ID"] == (await first.get_json())["correlationId"]
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("unsafe", ["has space", "x" * 200, "new\\nline", "<script>"])
async def test_unsafe_request_id_is_replaced(client: Client, unsafe: str) -> None:
    response = await client.get("/api/health", headers={"X-Request-ID": unsafe})
    assert response.headers["X-Request-ID"] != unsafe
    assert len(response.headers["X-Request-ID"]) == 32


# CORS


@pytest.fixture
async def cors_client(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(configs_dir=tmp_path, cors_origins=("https://admin.home.lan",))
    app: Quart = create_app(bootstrap(settings))
    async with app.test_app():
        yield app.test_client()


async def test_cors_preflight_from_an_allowed_origin(cors_client: Client) -> None:
    response = await cors_client.options(
        f"/api/configs/{MAC}",
        headers={
            "Origin": "https://admin.home.lan",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.headers["Access-Control-Allow-Origin"] == "https://admin.home.lan"
    assert "PUT" in response.headers["Access-Control-Allow-Methods"]


async def test_cors_exposes_the_request_id_to_allowed_origins(cors_client: Client) -> None:
    response = await cors_client.get("/api/health", headers={"Origin": "https://admin.home.lan"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://admin.home.lan"
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]


async def test_cors_ignores_other_origins(cors_client: Client) -> None:
    response = await cors_client.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    # The same app does answer its own origin, so the refusal above is CORS at work.
    allowed = await cors_client.get("/api/health", headers={"Origin": "https://admin.home.lan"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://admin.home.lan"


@pytest.mark.parametrize("method", ["put", "patch", "delete", "post"])
async def test_the_device_file_url_is_read_only(client: Client, method: str) -> None:
    response = await getattr(client, method)(f"/api/configs/{MAC}.json")
    assert response.status_code == 405
    assert_error(await response.get_json(), "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}
