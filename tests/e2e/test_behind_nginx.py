"""A real `iot-support` behind a real nginx running the README's own proxy configuration: the
device path the previous service's firmware fetches (`/esp32/config/<mac>.json`) rewritten to the
API, and the device's address reaching its check-in through `X-Forwarded-For`.

The device connects from 127.0.0.2 and nginx from 127.0.0.1, so the address the service records
says which of them it believed. Needs Debian's `nginx` (scripts/test.sh installs it); without it
the tests skip saying how to get it, except in CI, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.environment import unavailable
from tests.nginx import nginx_config
from tests.server_process import RunningServer, free_port, start_server, stop_server

pytestmark = pytest.mark.e2e

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
README = Path(__file__).resolve().parents[2] / "README.md"
DEVICE = "24-0a-c4-00-00-07"
DEVICE_ADDRESS = "127.0.0.2"
PROXY_ADDRESS = "127.0.0.1"
FLUSH_SECONDS = 0.2


def readme_proxy_locations() -> str:
    """The `location` blocks of the README's nginx example, as a reader would paste them."""
    blocks: list[str] = re.findall(r"```nginx\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, "the README should show exactly one nginx configuration"
    return blocks[0]


@contextlib.contextmanager
def nginx_in_front_of(server: RunningServer, work: Path) -> Iterator[str]:
    if not os.path.exists(NGINX):
        unavailable("nginx is missing: `apt-get install nginx` (Debian), then run again.")
    port = free_port()
    upstream = server.base_url.removeprefix("http://")
    locations = readme_proxy_locations().replace("iot-support:3201", upstream)
    assert upstream in locations, "the README's example no longer proxies to iot-support:3201"
    config = work / "nginx.conf"
    config.write_text(nginx_config(work, f"listen {PROXY_ADDRESS}:{port};\n{locations}"))
    proxy = subprocess.Popen([NGINX, "-c", str(config)], stderr=subprocess.PIPE)
    base = f"http://{PROXY_ADDRESS}:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            if proxy.poll() is not None:
                pytest.fail(f"nginx exited: {proxy.stderr.read().decode() if proxy.stderr else ''}")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{base}/api/health", timeout=1)
                break
            if time.monotonic() > deadline:
                pytest.fail("nginx did not start")
            time.sleep(0.05)
        yield base
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


@pytest.fixture(params=[True, False], ids=["proxy-trusted", "proxy-not-trusted"])
def behind_nginx(
    request: pytest.FixtureRequest, tmp_path: Path, configs_dir: Path
) -> Iterator[tuple[str, bool, RunningServer]]:
    trusted: bool = request.param
    server = start_server(
        tmp_path,
        ESP32_CONFIGS_DIR=str(configs_dir),
        TRUST_PROXY_HEADERS=str(trusted).lower(),
        CHECKIN_FLUSH_SECONDS=str(FLUSH_SECONDS),
    )
    try:
        with nginx_in_front_of(server, tmp_path) as base:
            yield base, trusted, server
    finally:
        stop_server(server)


def device_client(base: str) -> httpx.Client:
    """A device on its own address, sending a forged `X-Forwarded-For` the proxy must not pass."""
    return httpx.Client(
        base_url=base,
        transport=httpx.HTTPTransport(local_address=DEVICE_ADDRESS),
        headers={"User-Agent": "ESP32HTTPClient/1.0", "X-Forwarded-For": "203.0.113.9"},
        timeout=5,
    )


def checked_in(base: str, expected_status: int) -> dict[str, Any]:
    """The device's record once a check-in with `expected_status` has been flushed."""
    deadline = time.monotonic() + FLUSH_SECONDS + 2
    while True:
        response = httpx.get(f"{base}/api/devices/{DEVICE}", timeout=5)
        record: dict[str, Any] = response.json()
        if response.status_code == 200 and record["last_status"] == expected_status:
            return record
        assert time.monotonic() < deadline, record
        time.sleep(0.05)


def test_the_rewritten_device_path_checks_in_with_the_address_the_proxy_vouches_for(
    behind_nginx: tuple[str, bool, RunningServer],
) -> None:
    base, trusted, server = behind_nginx
    expected_client = DEVICE_ADDRESS if trusted else PROXY_ADDRESS
    with device_client(base) as device:
        # A newly flashed device asking through the old path: unknown, with its own address.
        assert device.get(f"/esp32/config/{DEVICE}.json").status_code == 404
        record = checked_in(base, 404)
        assert record["state"] == "unknown"
        assert record["client"] == expected_client
        assert record["user_agent"] == "ESP32HTTPClient/1.0"

        saved = httpx.put(
            f"{base}/api/configs/{DEVICE}", json={"content": {"interval": 30}}, timeout=5
        )
        assert saved.status_code == 200, saved.text
        fetched = device.get(f"/esp32/config/{DEVICE}.json")
        assert fetched.status_code == 200
        assert fetched.json() == {"interval": 30}
        etag = fetched.headers["ETag"]
        record = checked_in(base, 200)
        assert (record["state"], record["device_etag"]) == ("in_sync", etag)

        # The poll nginx passes on with If-None-Match, then a HEAD: both check in.
        polled = device.get(f"/esp32/config/{DEVICE}.json", headers={"If-None-Match": etag})
        assert polled.status_code == 304
        record = checked_in(base, 304)
        assert (record["state"], record["client"]) == ("in_sync", expected_client)

        httpx.put(f"{base}/api/configs/{DEVICE}", json={"content": {"interval": 60}}, timeout=5)
        assert device.head(f"/esp32/config/{DEVICE}.json").status_code == 200
        record = checked_in(base, 200)
        assert record["state"] == "in_sync"
        assert record["device_etag"] != etag

    # The access log names the device as its check-ins do; the forged entry, never.
    downloads = [line for line in server.log().splitlines() if f"/{DEVICE}.json " in line]
    assert [line.split()[5:8] for line in downloads] == [
        ["GET", f"/api/configs/{DEVICE}.json", "404"],
        ["GET", f"/api/configs/{DEVICE}.json", "200"],
        ["GET", f"/api/configs/{DEVICE}.json", "304"],
        ["HEAD", f"/api/configs/{DEVICE}.json", "200"],
    ]
    assert all(f"client={expected_client} " in line for line in downloads), downloads
    assert "203.0.113.9" not in server.log()
