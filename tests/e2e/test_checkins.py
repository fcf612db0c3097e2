"""Device check-ins through two real `iot-support` replicas on one directory: a device polls
one, the admin reads the other; a restart in between; a burst of unknown MACs; overdue."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.filesystem.checkins import CHECKIN_DIRECTORY
from tests.server_process import RunningServer, start_server, stop_server

pytestmark = pytest.mark.e2e

FLUSH = "0.2"
REFRESH = "1"
# A check-in is seen through every replica within a flush interval and a second.
SEEN_WITHIN = 0.2 + 1.0


def start(home: Path, configs_dir: Path) -> RunningServer:
    return start_server(
        home,
        ESP32_CONFIGS_DIR=str(configs_dir),
        CHECKIN_FLUSH_SECONDS=FLUSH,
        CHECKIN_REFRESH_SECONDS=REFRESH,
    )


DEVICE = "24-0a-c4-00-00-01"


@pytest.fixture
def replicas(tmp_path: Path, configs_dir: Path) -> Iterator[list[RunningServer]]:
    started = []
    try:
        for name in ("a", "b"):
            home = tmp_path / name
            home.mkdir()
            started.append(start(home, configs_dir))
        yield started
    finally:
        for server in started:
            stop_server(server)


def eventually(check: Callable[[], Any], seconds: float = SEEN_WITHIN) -> Any:
    """The check's value once it is truthy, within `seconds`; fails with the last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, value
            return value
        time.sleep(0.05)


def device(server: RunningServer, mac: str = DEVICE) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/api/devices/{mac}", timeout=5)
    return response.json() if response.status_code == 200 else {}


def fetch(server: RunningServer, mac: str = DEVICE, **headers: str) -> httpx.Response:
    headers.setdefault("User-Agent", "ESP32HTTPClient")
    return httpx.get(f"{server.base_url}/api/configs/{mac}.json", headers=headers, timeout=5)


def test_a_device_polling_one_replica_is_seen_through_the_other(
    replicas: list[RunningServer],
) -> None:
    polled, admin = replicas
    assert fetch(polled).status_code == 404
    assert eventually(lambda: device(admin).get("state") == "unknown")
    saved = httpx.put(
        f"{admin.base_url}/api/configs/{DEVICE}", json={"content": {"v": 1}}, timeout=5
    )
    etag = saved.headers["ETag"]
    assert device(admin)["state"] == "out_of_sync"
    assert fetch(polled).status_code == 200
    seen = eventually(lambda: (d := device(admin)).get("state") == "in_sync" and d)
    assert (seen["device_etag"], seen["user_agent"], seen["client"]) == (
        etag,
        "ESP32HTTPClient",
        "127.0.0.1",
    )
    httpx.put(f"{polled.base_url}/api/configs/{DEVICE}", json={"content": {"v": 2}}, timeout=5)
    assert device(admin)["state"] == "out_of_sync"  # the save is seen at once, the device not
    assert fetch(polled, **{"If-None-Match": etag}).status_code == 200
    assert eventually(lambda: device(admin).get("state") == "in_sync")

    def gauge() -> str | None:
        text = httpx.get(f"{admin.base_url}/metrics", timeout=5).text
        return text if 'iot_devices{state="in_sync"} 1.0' in text else None

    assert "iot_checkins_recorded_total" in eventually(gauge)


def test_a_device_that_stops_polling_becomes_overdue_on_every_replica(
    replicas: list[RunningServer],
) -> None:
    polled, admin = replicas
    httpx.put(f"{admin.base_url}/api/configs/{DEVICE}", json={"content": {"v": 1}}, timeout=5)
    for _ in range(5):
        assert fetch(polled).status_code == 200
        time.sleep(0.1)
    seen = eventually(lambda: (d := device(admin)).get("poll_interval_seconds") and d)
    assert seen["state"] == "in_sync"
    # Overdue after 3 intervals, and never sooner than the refresh period and two flushes.
    for server in replicas:

        def overdue(seen: RunningServer = server) -> bool:
            return device(seen).get("state") == "overdue"

        assert eventually(overdue, seconds=4)


def test_the_state_survives_a_restart_of_the_replica_that_saw_it(
    replicas: list[RunningServer], tmp_path: Path, configs_dir: Path
) -> None:
    polled, admin = replicas
    fetch(polled, **{"User-Agent": "before-restart"})
    stop_server(polled)  # SIGTERM: the last flush is part of a graceful stop
    assert (configs_dir / CHECKIN_DIRECTORY / f"{DEVICE}.json").exists()
    again = start(tmp_path / "a", configs_dir)
    replicas[0] = again
    for server in (again, admin):
        assert device(server)["user_agent"] == "before-restart"


def test_a_burst_of_unknown_macs_stays_bounded(
    replicas: list[RunningServer], configs_dir: Path
) -> None:
    polled, admin = replicas
    macs = [f"06-00-00-00-{i // 256:02x}-{i % 256:02x}" for i in range(5000)]
    with (
        httpx.Client(base_url=polled.base_url, timeout=10) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        statuses = list(pool.map(lambda m: client.get(f"/api/configs/{m}.json").status_code, macs))
    assert set(statuses) == {404}

    def settled_at_the_cap() -> bool:
        # Between a flush's writes and its trim the share may hold one flush's worth more.
        response = httpx.get(f"{admin.base_url}/api/devices?state=unknown", timeout=10)
        on_share = len(list((configs_dir / CHECKIN_DIRECTORY).glob("*.json")))
        count: int = response.json()["count"]
        return count == on_share == 1000

    assert eventually(settled_at_the_cap, seconds=10)

    def dropped() -> float:
        text = httpx.get(f"{polled.base_url}/metrics", timeout=5).text
        return next(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("iot_checkins_dropped_total")
        )

    # Every MAC beyond the cap dropped once, the oldest first; then the share holds the cap.
    assert eventually(lambda: dropped() == 4000, seconds=10)
    assert eventually(settled_at_the_cap)


def test_a_device_forgotten_through_one_replica_stays_forgotten_on_both(
    replicas: list[RunningServer], configs_dir: Path
) -> None:
    polled, admin = replicas
    httpx.put(f"{admin.base_url}/api/configs/{DEVICE}", json={"content": {"v": 1}}, timeout=5)
    assert fetch(polled).status_code == 200
    assert eventually(lambda: device(admin).get("state") == "in_sync")
    assert fetch(polled).status_code == 200  # the same news: held back by the polled replica
    time.sleep(float(FLUSH) * 2)
    forgotten = httpx.delete(f"{admin.base_url}/api/devices/{DEVICE}", timeout=5)
    assert forgotten.status_code == 204
    # The device stops polling. Past the refresh period and two flushes, what the polled
    # replica held back has come due, and is dropped rather than written back.
    time.sleep(float(REFRESH) + 3 * float(FLUSH) + 0.5)
    for server in replicas:
        assert device(server)["state"] == "never_seen", server.base_url
    assert not (configs_dir / CHECKIN_DIRECTORY / f"{DEVICE}.json").exists()
