"""The real `iot-support` process over real HTTP: the contract as devices and admins see it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server_process import SERVER, RunningServer, free_port, start_server, stop_server

pytestmark = pytest.mark.e2e

MAC = "24-0a-c4-12-34-56"


def test_config_lifecycle_over_http(http: httpx.Client, server: RunningServer) -> None:
    content = {"deviceName": "Porch", "deviceEntityId": "sensor.porch", "enableOTA": True}

    created = http.put(f"/api/configs/{MAC.upper()}", json={"content": content})
    assert created.status_code == 200
    assert created.json()["mac_address"] == MAC

    fetched = http.get(f"/api/configs/{MAC}")
    assert fetched.json() == created.json()

    raw = http.get("/api/configs/24:0A:C4:12:34:56.json")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert raw.headers["cache-control"] == "no-cache"
    assert raw.content == (server.configs_dir / f"{MAC}.json").read_bytes()
    assert raw.json() == content

    listed = http.get("/api/configs").json()
    assert {
        "mac_address": MAC,
        "device_name": "Porch",
        "device_entity_id": "sensor.porch",
        "enable_ota": True,
    } in listed["configs"]

    refused = http.put(f"/api/configs/{MAC}", json={"content": {}, "allow_overwrite": False})
    assert refused.status_code == 409
    assert refused.json()["code"] == "RECORD_EXISTS"

    deleted = http.delete(f"/api/configs/{MAC}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert not (server.configs_dir / f"{MAC}.json").exists()


def test_errors_use_the_envelope_over_http(http: httpx.Client) -> None:
    missing = http.get(f"/api/configs/{MAC}", headers={"X-Request-ID": "e2e-1"})
    assert missing.status_code == 404
    assert missing.json() == {
        "error": f"Config {MAC} was not found",
        "code": "RECORD_NOT_FOUND",
        "details": None,
        "correlationId": "e2e-1",
    }
    assert missing.headers["x-request-id"] == "e2e-1"

    bad = http.get("/api/configs/not-a-mac")
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_OPERATION")

    invalid = http.put(
        f"/api/configs/{MAC}",
        content=b'{"content": {"x": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert (invalid.status_code, invalid.json()["code"]) == (400, "VALIDATION_FAILED")

    unknown = http.get("/nowhere")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/json"


def test_metrics_and_docs_over_http(http: httpx.Client) -> None:
    http.put(f"/api/configs/{MAC}", json={"content": {}})
    metrics = http.get("/metrics")
    assert metrics.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert "iot_config_operations" in families
    assert "iot_config_operation_duration_seconds" in families
    assert families["iot_config_files_count"].samples[0].value >= 1

    docs = http.get("/api/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    for path in ("/api/openapi.json", "/api/docs/openapi.json"):
        assert "/api/configs/{mac_address}" in http.get(path).json()["paths"]


def test_sigterm_finishes_cleanly_with_exit_code_0(tmp_path: Path) -> None:
    running = start_server(tmp_path)
    assert "listening on http://127.0.0.1:" in running.log()
    assert str(running.configs_dir) in running.log()
    assert stop_server(running) == 0
    assert "Traceback" not in running.log()


def test_defaults_create_the_data_directory_under_the_working_directory(
    tmp_path: Path,
) -> None:
    running = start_server(tmp_path, unset=("ESP32_CONFIGS_DIR",))
    try:
        assert (tmp_path / "data" / "esp32-configs").is_dir()
        assert (
            httpx.put(
                f"{running.base_url}/api/configs/{MAC}", json={"content": {"v": 1}}
            ).status_code
            == 200
        )
        assert (tmp_path / "data" / "esp32-configs" / f"{MAC}.json").exists()
    finally:
        stop_server(running)


# Both entry points; hypercorn's own CLI (0.18) reports exit status 0 for a worker process that
# exited 2, so under hypercorn the status holds with `--workers 0` (README, "Running it for real").
ENTRY_POINTS = {
    "iot-support": [str(SERVER)],
    "hypercorn": [str(SERVER.with_name("hypercorn")), "--workers", "0", "entrypoints.asgi:app"],
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CORS_ORIGINS": "not-json"}, "CORS_ORIGINS"),
        ({"MQTT_URL": "mqtts://localhost:8883", "MQTT_CA_FILE": "not-a-pem.txt"}, "MQTT_CA_FILE"),
    ],
    ids=["cors", "mqtt-ca-not-pem"],
)
def test_malformed_setting_stops_the_server_with_one_line(
    tmp_path: Path, entry: str, env: dict[str, str], named: str
) -> None:
    (tmp_path / "not-a-pem.txt").write_text("this is not a certificate\n")
    result = subprocess.run(
        ENTRY_POINTS[entry],
        env={**env, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
        cwd=tmp_path,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert named in lines[0]
    assert not (tmp_path / "data").exists()


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    running = start_server(tmp_path, SHUTDOWN_GRACE_SECONDS="10")
    host, port = running.base_url.removeprefix("http://").split(":")
    body = b'{"content": {"deviceName": "slow upload"}}'
    head = (
        f"PUT /api/configs/{MAC} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + body[:10])
        time.sleep(0.3)  # the handler is now waiting for the rest of the body
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{running.base_url}/api/health", timeout=2)  # no new connections
        connection.sendall(body[10:])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert running.process.wait(timeout=15) == 0
    assert (running.configs_dir / f"{MAC}.json").exists()


def test_json_logs_one_object_per_line_with_access_fields(tmp_path: Path) -> None:
    running = start_server(tmp_path, LOG_FORMAT="json")
    try:
        httpx.put(
            f"{running.base_url}/api/configs/{MAC}",
            json={"content": {"password": "do-not-log-me"}},
            headers={"X-Request-ID": "json-1"},
        )
    finally:
        stop_server(running)
    lines = [json.loads(line) for line in running.log().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "iot_support.access"]
    put = next(line for line in access if line["method"] == "PUT")
    assert put["correlation_id"] == "json-1"
    assert put["status"] == 200
    assert put["route"] == "/api/configs/{mac_address}"
    assert put["client"] == "127.0.0.1"
    assert "do-not-log-me" not in running.log()


def test_a_configs_path_that_is_a_file_is_named_as_such_at_start(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "configs"
    not_a_directory.write_text("a file where the directory should be\n")
    port = free_port()
    log_path = tmp_path / "server.log"
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ESP32_CONFIGS_DIR": str(not_a_directory),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(SERVER)], env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    server = RunningServer(process, f"http://127.0.0.1:{port}", not_a_directory, log_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert time.monotonic() < deadline, server.log()
            with contextlib.suppress(httpx.TransportError):
                health = httpx.get(f"{server.base_url}/api/health", timeout=1)
                break
            time.sleep(0.05)
    finally:
        stop_server(server)
    assert health.status_code == 503
    assert health.json()["reason"] == "not_a_directory"
    log_text = server.log()
    assert f"configs directory {not_a_directory} is a file, not a directory;" in log_text
    assert "is missing" not in log_text
