"""Saved configs are announced over MQTT, tested against a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from quart import Quart

from adapters.mqtt_notifier import MqttNotifier, MqttOptions
from domain.ports import Notifier
from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import MqttSettings, Settings
from tests.mqtt.conftest import Broker, subscriber
from tests.server_process import free_port

MAC = "24-0a-c4-00-00-07"


def app_for(tmp_path: Path, mqtt: MqttSettings, notifier: Notifier | None = None) -> Quart:
    configs = tmp_path / "configs"
    configs.mkdir(exist_ok=True)
    return create_app(bootstrap(Settings(configs_dir=configs, mqtt=mqtt), notifier=notifier))


async def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 15
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)


def notifier_of(app: Quart) -> MqttNotifier:
    container = app.extensions["iot_support.container"]
    notifier = container.resolve(Notifier)
    assert isinstance(notifier, MqttNotifier)
    return notifier


async def connected(app: Quart) -> None:
    await eventually(lambda: notifier_of(app).stats().connected)


async def next_messages(queue: asyncio.Queue[aiomqtt.Message], count: int) -> list[aiomqtt.Message]:
    return [await asyncio.wait_for(queue.get(), timeout=10) for _ in range(count)]


def payload(message: aiomqtt.Message) -> dict[str, str]:
    assert isinstance(message.payload, bytes)
    decoded: dict[str, str] = json.loads(message.payload)
    return decoded


async def test_saves_are_announced_on_both_topics_and_deletes_are_not(
    broker: Broker, tmp_path: Path
) -> None:
    app = app_for(tmp_path, MqttSettings("127.0.0.1", broker.port, tls=False))
    async with subscriber(broker) as received, app.test_app():
        await connected(app)
        client = app.test_client()
        saved = await client.put(f"/api/configs/{MAC}", json={"content": {"v": 1}})
        patched = await client.patch(
            f"/api/configs/{MAC}",
            data=b'{"v": 2}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert (await client.delete(f"/api/configs/{MAC}")).status_code == 204
        refused = await client.put(
            "/api/configs/00-00-00-00-00-01", json={"content": {}}, headers={"If-Match": '"x"'}
        )
        assert refused.status_code == 412

        messages = await next_messages(received, 4)
        await asyncio.sleep(0.5)
        assert received.empty(), "a delete or a refused save was announced"

    topics = sorted(str(m.topic) for m in messages)
    assert topics == [
        "iotsupport/updates/configs",
        "iotsupport/updates/configs",
        f"iotsupport/updates/configs/{MAC}",
        f"iotsupport/updates/configs/{MAC}",
    ]
    assert all(m.qos == 1 and not m.retain for m in messages)
    assert all(payload(m)["filename"] == f"{MAC}.json" for m in messages)
    etags = {payload(m)["etag"] for m in messages}
    assert etags == {saved.headers["ETag"], patched.headers["ETag"]}


async def test_publishing_resumes_after_the_broker_restarts(broker: Broker, tmp_path: Path) -> None:
    app = app_for(tmp_path, MqttSettings("127.0.0.1", broker.port, tls=False))
    async with app.test_app():
        await connected(app)
        client = app.test_client()
        broker.stop()
        await eventually(lambda: not notifier_of(app).stats().connected)

        started = time.monotonic()
        response = await client.put(f"/api/configs/{MAC}", json={"content": {"down": True}})
        assert response.status_code == 200
        assert time.monotonic() - started < 0.5  # the save never waits for the broker

        broker.start()
        async with subscriber(broker) as received:
            await connected(app)
            response = await client.put(f"/api/configs/{MAC}", json={"content": {"up": True}})
            assert response.status_code == 200
            # The update saved while the broker was down may arrive first (it was queued).
            etags = {payload(m)["etag"] for m in await next_messages(received, 2)}
            if response.headers["ETag"] not in etags:
                etags |= {payload(m)["etag"] for m in await next_messages(received, 2)}
            # Counted once the broker acknowledged the publish, which may come a moment after
            # the subscriber got the message: wait for it while the notifier still runs.
            await eventually(lambda: notifier_of(app).stats().published == 2)
    assert response.headers["ETag"] in etags
    assert notifier_of(app).stats().published == 2


async def test_an_unreachable_broker_leaves_the_service_healthy(tmp_path: Path) -> None:
    app = app_for(tmp_path, MqttSettings("127.0.0.1", free_port(), tls=False))
    async with app.test_app():
        client = app.test_client()
        assert (await client.get("/api/health")).status_code == 200
        response = await client.put(f"/api/configs/{MAC}", json={"content": {}})
        assert response.status_code == 200
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert "iot_mqtt_connected 0.0" in metrics
        assert "iot_mqtt_enabled 1.0" in metrics  # configured, and down: not the same as off


async def test_updates_that_do_not_fit_the_queue_are_dropped_and_counted(tmp_path: Path) -> None:
    notifier = MqttNotifier(
        MqttOptions("127.0.0.1", free_port(), "test-drop", "iotsupport", queue_size=2)
    )
    app = app_for(tmp_path, MqttSettings("127.0.0.1", 1, tls=False), notifier=notifier)
    async with app.test_app():
        client = app.test_client()
        for i in range(5):
            response = await client.put(f"/api/configs/{MAC}", json={"content": {"i": i}})
            assert response.status_code == 200
        assert notifier.stats().dropped == 3
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert "iot_mqtt_messages_dropped_total 3.0" in metrics


async def test_a_broker_with_a_password_file(password_broker: Broker, tmp_path: Path) -> None:
    good = MqttSettings("127.0.0.1", password_broker.port, False, "iot", "s3cret")
    app = app_for(tmp_path, good)
    async with (
        subscriber(password_broker, username="iot", password="s3cret") as received,
        app.test_app(),
    ):
        await connected(app)
        await app.test_client().put(f"/api/configs/{MAC}", json={"content": {}})
        assert len(await next_messages(received, 2)) == 2


async def test_wrong_credentials_never_fail_a_save(password_broker: Broker, tmp_path: Path) -> None:
    wrong = MqttSettings("127.0.0.1", password_broker.port, False, "iot", "wrong")
    app = app_for(tmp_path, wrong)
    async with app.test_app():
        response = await app.test_client().put(f"/api/configs/{MAC}", json={"content": {}})
        assert response.status_code == 200
        await asyncio.sleep(0.3)
        assert not notifier_of(app).stats().connected


async def test_tls_with_a_private_ca(tls_broker: Broker, tmp_path: Path) -> None:
    assert tls_broker.ca_file is not None
    settings = MqttSettings("localhost", tls_broker.port, True, ca_file=tls_broker.ca_file)
    app = app_for(tmp_path, settings)
    tls = aiomqtt.TLSParameters(ca_certs=str(tls_broker.ca_file))
    async with subscriber(tls_broker, tls_params=tls) as received, app.test_app():
        await connected(app)
        await app.test_client().put(f"/api/configs/{MAC}", json={"content": {"tls": True}})
        messages = await next_messages(received, 2)
    assert {payload(m)["mac_address"] for m in messages} == {MAC}


async def test_tls_without_the_ca_does_not_connect(tls_broker: Broker, tmp_path: Path) -> None:
    settings = MqttSettings("localhost", tls_broker.port, True)
    app = app_for(tmp_path, settings)
    async with app.test_app():
        response = await app.test_client().put(f"/api/configs/{MAC}", json={"content": {}})
        assert response.status_code == 200
        await asyncio.sleep(0.5)
        assert not notifier_of(app).stats().connected
