"""The real `iot-support` process with MQTT on: a device's subscription sees an admin's save,
and start-up and SIGTERM stay clean with the broker up or unreachable."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.mqtt.conftest import Broker, subscriber
from tests.server_process import free_port, start_server, stop_server

pytestmark = pytest.mark.e2e

MAC = "a4-cf-12-00-00-09"


async def connected(http: httpx.AsyncClient) -> None:
    """Return once the server says it is connected to the broker (15 s at most)."""
    deadline = time.monotonic() + 15
    while "iot_mqtt_connected 1.0" not in (await http.get("/metrics")).text:
        assert time.monotonic() < deadline, "the server never connected to the broker"
        await asyncio.sleep(0.05)


async def test_a_device_subscribed_to_its_topic_hears_of_its_new_config(
    broker: Broker, tmp_path: Path
) -> None:
    server = start_server(tmp_path, MQTT_URL=f"mqtt://127.0.0.1:{broker.port}")
    try:
        async with (
            subscriber(broker) as received,
            httpx.AsyncClient(base_url=server.base_url) as http,
        ):
            await connected(http)
            saved = await http.put(f"/api/configs/{MAC}", json={"content": {"a": 1}})
            assert saved.status_code == 200
            messages = [await asyncio.wait_for(received.get(), 10) for _ in range(2)]
    finally:
        assert stop_server(server) == 0
    assert {str(m.topic) for m in messages} == {
        "iotsupport/updates/configs",
        f"iotsupport/updates/configs/{MAC}",
    }
    for message in messages:
        assert isinstance(message.payload, bytes)
        assert json.loads(message.payload)["filename"] == f"{MAC}.json"
    assert "MQTT connected" in server.log()


async def test_a_restored_config_is_announced_like_a_save(broker: Broker, tmp_path: Path) -> None:
    """Undelete: the device hears of the config that came back, with the bytes it then gets."""
    server = start_server(tmp_path, MQTT_URL=f"mqtt://127.0.0.1:{broker.port}")
    try:
        async with (
            subscriber(broker) as received,
            httpx.AsyncClient(base_url=server.base_url) as http,
        ):
            await connected(http)
            assert (await http.put(f"/api/configs/{MAC}", json={"content": {"a": 1}})).is_success
            assert (await http.delete(f"/api/configs/{MAC}")).status_code == 204
            for _ in range(2):  # the save's two messages; the delete sends none
                await asyncio.wait_for(received.get(), 10)
            restored = await http.post(
                f"/api/configs/{MAC}/restore", json={"revision": "000000000001"}
            )
            assert restored.status_code == 200
            messages = [await asyncio.wait_for(received.get(), 10) for _ in range(2)]
            served = await http.get(f"/api/configs/{MAC}.json")
    finally:
        assert stop_server(server) == 0
    assert {str(m.topic) for m in messages} == {
        "iotsupport/updates/configs",
        f"iotsupport/updates/configs/{MAC}",
    }
    for message in messages:
        assert isinstance(message.payload, bytes)
        announced = json.loads(message.payload)
        assert announced["filename"] == f"{MAC}.json"
        assert announced["etag"] == restored.headers["ETag"] == served.headers["ETag"]
    assert served.json() == {"a": 1}
    assert received.empty()


def test_an_unreachable_broker_neither_blocks_start_nor_shutdown(tmp_path: Path) -> None:
    server = start_server(tmp_path, MQTT_URL=f"mqtt://127.0.0.1:{free_port()}")
    saved = httpx.put(f"{server.base_url}/api/configs/{MAC}", json={"content": {}})
    assert saved.status_code == 200
    started = time.monotonic()
    assert stop_server(server) == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in server.log()
