"""Device check-ins over the app, on a real directory, through both lanes: what a download
records, the states over a save and the device's next poll, filters, one device, forgetting,
the client behind a trusted proxy, and CHECKINS=off."""

from __future__ import annotations

import json
import time
import typing
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from adapters.filesystem.checkins import CHECKIN_DIRECTORY
from domain.checkins import MAX_USER_AGENT_CHARS, CheckIn, DeviceState
from domain.model import MacAddress
from domain.ports import CheckInLog
from domain.use_cases import ListDevices
from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.http.schemas import DeviceListOut, DeviceOut, DeviceStateName
from entrypoints.settings import Settings
from tests.conftest import MAC, OTHER_MAC
from tests.http.test_configs_api import assert_error

FILE = f"/api/configs/{MAC}.json"
NEW_DEVICE = "02-00-00-00-00-42"


class Service:
    """The app through its outer ASGI layer (the fast lane when on), and its check-in log."""

    def __init__(self, configs_dir: Path, *, fast_lane: bool = True, **settings: Any) -> None:
        container = bootstrap(Settings(configs_dir=configs_dir, **settings))
        self.container = container
        self.log: CheckInLog = container.resolve(CheckInLog)
        app: Any = create_app(container, fast_lane=fast_lane)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app.asgi_app, client=("192.0.2.50", 4000)),
            base_url="http://test",
        )

    async def device(self, mac: str = MAC) -> dict[str, Any]:
        await self.log.flush()
        response = await self.http.get(f"/api/devices/{mac}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def devices(self, query: str = "") -> list[dict[str, Any]]:
        await self.log.flush()
        response = await self.http.get(f"/api/devices{query}")
        assert response.status_code == 200, response.text
        listed: list[dict[str, Any]] = response.json()["devices"]
        return listed


@pytest.fixture(params=[True, False], ids=["fast lane", "quart"])
def service(configs_dir: Path, request: pytest.FixtureRequest) -> Service:
    return Service(configs_dir, fast_lane=request.param)


async def put(service: Service, content: dict[str, Any], mac: str = MAC) -> str:
    response = await service.http.put(f"/api/configs/{mac}", json={"content": content})
    assert response.status_code == 200
    return response.headers["ETag"]


async def test_a_new_device_shows_as_unknown_then_in_sync_out_of_sync_and_in_sync_again(
    service: Service,
) -> None:
    agent = {"User-Agent": "ESP32HTTPClient/2.1"}
    assert (
        await service.http.get(f"/api/configs/{NEW_DEVICE}.json", headers=agent)
    ).status_code == 404
    unknown = await service.device(NEW_DEVICE)
    assert unknown == {
        "mac_address": NEW_DEVICE,
        "has_config": False,
        "config_etag": None,
        "device_etag": None,
        "state": "unknown",
        "last_seen_at": unknown["last_seen_at"],
        "last_status": 404,
        "client": "192.0.2.50",
        "user_agent": "ESP32HTTPClient/2.1",
        "poll_interval_seconds": None,
        "device_name": None,
    }
    assert unknown["last_seen_at"].endswith("Z")

    first = await put(service, {"deviceName": "Porch", "v": 1}, NEW_DEVICE)
    state = await service.device(NEW_DEVICE)
    assert (state["state"], state["config_etag"], state["device_name"]) == (
        "out_of_sync",
        first,
        "Porch",
    )
    fetched = await service.http.get(f"/api/configs/{NEW_DEVICE}.json", headers=agent)
    assert fetched.status_code == 200
    state = await service.device(NEW_DEVICE)
    assert (state["state"], state["device_etag"], state["last_status"]) == ("in_sync", first, 200)

    second = await put(service, {"deviceName": "Porch", "v": 2}, NEW_DEVICE)
    state = await service.device(NEW_DEVICE)
    assert (state["state"], state["device_etag"], state["config_etag"]) == (
        "out_of_sync",
        first,
        second,
    )
    polled = await service.http.get(
        f"/api/configs/{NEW_DEVICE}.json", headers={**agent, "If-None-Match": first}
    )
    assert polled.status_code == 200
    state = await service.device(NEW_DEVICE)
    assert (state["state"], state["device_etag"]) == ("in_sync", second)


async def test_a_304_and_a_head_are_check_ins_a_malformed_mac_and_admin_reads_are_not(
    service: Service,
) -> None:
    etag = await put(service, {"v": 1})
    assert (await service.http.get(FILE, headers={"If-None-Match": etag})).status_code == 304
    state = await service.device()
    assert (state["state"], state["last_status"]) == ("in_sync", 304)
    assert (await service.http.head(FILE)).status_code == 200
    assert (await service.http.get(f"/api/configs/{MAC}")).status_code == 200
    assert (await service.http.get("/api/configs/not-a-mac.json")).status_code == 400
    await service.log.flush()
    record = await service.log.record_of(MacAddress(MAC))
    assert record is not None
    assert (len(record.recent), record.last_status) == (2, 200)
    assert [d["mac_address"] for d in await service.devices()] == [MAC]


async def test_a_config_no_device_fetched_is_never_seen(service: Service) -> None:
    await put(service, {"v": 1}, OTHER_MAC)
    [device] = await service.devices()
    assert (device["mac_address"], device["state"], device["last_seen_at"]) == (
        OTHER_MAC,
        "never_seen",
        None,
    )


async def test_the_list_is_sorted_and_filtered_by_state(service: Service) -> None:
    await put(service, {"v": 1}, MAC)
    await put(service, {"v": 1}, OTHER_MAC)
    await service.http.get(FILE)
    await service.http.get(f"/api/configs/{NEW_DEVICE}.json")
    listed = await service.devices()
    assert [(d["mac_address"], d["state"]) for d in listed] == [
        (OTHER_MAC, "never_seen"),
        (NEW_DEVICE, "unknown"),
        (MAC, "in_sync"),
    ]
    assert [d["mac_address"] for d in await service.devices("?state=unknown")] == [NEW_DEVICE]
    both = await service.devices("?state=unknown&state=never_seen")
    assert [d["mac_address"] for d in both] == [OTHER_MAC, NEW_DEVICE]
    response = await service.http.get("/api/devices?state=lost")
    assert response.status_code == 400
    assert_error(response.json(), "VALIDATION_FAILED")
    assert "in_sync" in response.json()["error"]


async def test_lists_read_again_after_changes_say_what_changed_and_nothing_else(
    service: Service,
) -> None:
    # Devices unchanged since the last list keep their encoding; the ones that changed do not.
    await put(service, {"v": 1}, MAC)
    await put(service, {"v": 1}, OTHER_MAC)
    await service.http.get(FILE)

    def states(listed: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(d["mac_address"], d["state"]) for d in listed]

    assert states(await service.devices()) == [(OTHER_MAC, "never_seen"), (MAC, "in_sync")]
    assert states(await service.devices("?state=never_seen")) == [(OTHER_MAC, "never_seen")]
    await put(service, {"v": 2}, MAC)
    first = await service.devices()
    assert states(first) == [(OTHER_MAC, "never_seen"), (MAC, "out_of_sync")]
    await service.http.get(f"/api/configs/{OTHER_MAC}.json")
    assert await service.devices("?state=never_seen") == []
    response = await service.http.get("/api/devices")
    body = response.json()
    assert body["count"] == 2
    assert states(body["devices"]) == [(OTHER_MAC, "in_sync"), (MAC, "out_of_sync")]
    assert body["devices"][1] == first[1]  # the device that did not change, as it was
    # Parts and all, the very bytes the schema encodes the same devices to in one piece.
    devices = await service.container.resolve(ListDevices).execute()
    whole = DeviceListOut(devices=[DeviceOut.from_domain(d) for d in devices], count=len(devices))
    assert response.content == msgspec.json.encode(whole)


async def test_a_device_that_stops_polling_becomes_overdue(configs_dir: Path) -> None:
    service = Service(configs_dir, checkin_refresh_seconds=0, checkin_flush_seconds=0.05)
    etag = (await service.http.put(f"/api/configs/{MAC}", json={"content": {"v": 1}})).headers[
        "ETag"
    ]
    now = time.time()
    for ago in (40, 30, 20, 10):  # polled every 10 s, and not since 10 s ago
        service.log.record(
            CheckIn(MacAddress(MAC), now - ago, 304, etag.strip('"'), "192.0.2.50", None)
        )
    state = await service.device()
    assert (state["state"], state["poll_interval_seconds"]) == ("in_sync", 10.0)
    service.log.record(CheckIn(MacAddress(MAC), now - 10, 304, etag.strip('"'), "192.0.2.50", None))
    for ago in (80, 70, 60, 50):  # the same device, seen last 50 s ago: over 3 x 10 s
        service.log.record(CheckIn(MacAddress(OTHER_MAC), now - ago, 404, None, "192.0.2.51", None))
    await put_other(service)
    overdue = await service.device(OTHER_MAC)
    assert overdue["state"] == "overdue"
    assert [d["mac_address"] for d in await service.devices("?state=overdue")] == [OTHER_MAC]


async def put_other(service: Service) -> None:
    response = await service.http.put(f"/api/configs/{OTHER_MAC}", json={"content": {"v": 1}})
    assert response.status_code == 200


async def test_one_device_not_known_is_404_and_a_bad_mac_400(service: Service) -> None:
    response = await service.http.get(f"/api/devices/{NEW_DEVICE}")
    assert response.status_code == 404
    assert_error(response.json(), "RECORD_NOT_FOUND")
    response = await service.http.get("/api/devices/not-a-mac")
    assert response.status_code == 400
    assert_error(response.json(), "INVALID_OPERATION")


async def test_forgetting_a_device_removes_its_check_ins_from_the_share(
    service: Service, configs_dir: Path
) -> None:
    await put(service, {"v": 1})
    await service.http.get(FILE)
    await service.log.flush()
    assert (configs_dir / CHECKIN_DIRECTORY / f"{MAC}.json").exists()
    response = await service.http.delete(f"/api/devices/{MAC}")
    assert (response.status_code, response.content) == (204, b"")
    assert not (configs_dir / CHECKIN_DIRECTORY / f"{MAC}.json").exists()
    assert (await service.device())["state"] == "never_seen"  # the config is untouched
    response = await service.http.delete(f"/api/devices/{MAC}")
    assert response.status_code == 404
    assert_error(response.json(), "RECORD_NOT_FOUND")


@pytest.mark.parametrize("fast_lane", [True, False], ids=["fast lane", "quart"])
async def test_behind_a_trusted_proxy_the_client_is_the_one_the_proxy_saw(
    configs_dir: Path, fast_lane: bool
) -> None:
    trusted = Service(configs_dir, fast_lane=fast_lane, trust_proxy_headers=True)
    headers = {"X-Forwarded-For": "198.51.100.1, 10.0.0.7", "User-Agent": "x" * 5000}
    await trusted.http.get(FILE, headers=headers)
    device = await trusted.device()
    assert device["client"] == "10.0.0.7"
    assert device["user_agent"] == "x" * MAX_USER_AGENT_CHARS
    untrusted = Service(configs_dir, fast_lane=fast_lane)
    await untrusted.http.get(FILE, headers=headers)
    assert (await untrusted.device())["client"] == "192.0.2.50"


async def test_with_check_ins_off_nothing_is_recorded_and_the_routes_are_not_there(
    configs_dir: Path,
) -> None:
    service = Service(configs_dir, checkins=False)
    await put(service, {"v": 1})
    assert (await service.http.get(FILE)).status_code == 200
    await service.log.flush()
    assert not (configs_dir / CHECKIN_DIRECTORY).exists()
    for method in ("GET", "DELETE"):
        response = await service.http.request(method, f"/api/devices/{MAC}")
        assert response.status_code == 404
        assert_error(response.json(), "NOT_FOUND")
    document = (await service.http.get("/api/openapi.json")).json()
    assert not [path for path in document["paths"] if path.startswith("/api/devices")]
    metrics = (await service.http.get("/metrics")).text
    assert "iot_devices" not in metrics
    assert "iot_checkins" not in metrics


async def test_the_stored_record_names_what_the_device_holds(
    service: Service, configs_dir: Path
) -> None:
    etag = await put(service, {"v": 1})
    await service.http.get(FILE, headers={"User-Agent": "esp"})
    await service.log.flush()
    stored = json.loads((configs_dir / CHECKIN_DIRECTORY / f"{MAC}.json").read_bytes())
    assert (stored["device_etag"], stored["last_status"], stored["client"]) == (
        etag.strip('"'),
        200,
        "192.0.2.50",
    )


def test_the_documented_states_are_the_domains() -> None:
    assert typing.get_args(DeviceStateName) == tuple(state.value for state in DeviceState)
