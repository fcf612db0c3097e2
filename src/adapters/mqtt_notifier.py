"""Notifier adapter over MQTT (aiomqtt): tells subscribed devices that their config changed.

Saves only enqueue a message; one background task connects, publishes and reconnects with
backoff, so a slow, down or unreachable broker never slows or fails a save.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from pathlib import Path

import aiomqtt
import attrs

from domain.model import StoredConfig
from domain.ports import Notifier

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


@attrs.frozen
class MqttOptions:
    """The broker and how to talk to it: the operator's settings (as read by the entrypoint)
    plus what only this adapter decides."""

    host: str
    port: int
    client_id: str
    topic_prefix: str
    tls: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None
    queue_size: int = 1000
    first_backoff_seconds: float = 0.5


@attrs.frozen
class MqttStats:
    """What the notifier has done so far, read by the metrics at scrape time."""

    connected: bool
    published: int
    failed: int
    dropped: int


class MqttNotifier(Notifier):
    """Publishes `{"filename": "<mac>.json", ...}` with QoS 1, not retained, over MQTT 5, to
    `<prefix>/updates/configs` (what deployed devices already understand) and to
    `<prefix>/updates/configs/<mac>` (so a device can listen to its own changes only)."""

    def __init__(self, options: MqttOptions) -> None:
        self._options = options
        self._queue: asyncio.Queue[tuple[str, bytes]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        self._published = 0
        self._failed = 0
        self._dropped = 0
        # The update being sent; kept across a reconnect so it is not lost on the way.
        self._pending: tuple[str, bytes] | None = None

    async def config_saved(self, stored: StoredConfig) -> None:
        mac = str(stored.config.mac_address)
        payload = json.dumps(
            {
                "filename": f"{mac}.json",
                "mac_address": mac,
                "etag": f'"{stored.document.revision}"',
            }
        ).encode()
        if self._queue is None:
            self._dropped += 1
            return
        try:
            self._queue.put_nowait((mac, payload))
        except asyncio.QueueFull:
            self._dropped += 1
            logger.warning(
                "MQTT queue full (%d waiting): dropped the update for %s",
                self._queue.qsize(),
                mac,
            )

    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self._options.queue_size)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def stats(self) -> MqttStats:
        return MqttStats(self._connected, self._published, self._failed, self._dropped)

    async def _run(self) -> None:
        options = self._options
        backoff = options.first_backoff_seconds
        while True:
            try:
                async with self._client() as client:
                    self._connected = True
                    backoff = options.first_backoff_seconds
                    logger.info("MQTT connected to %s:%d", options.host, options.port)
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._publish_forever(client))
                        group.create_task(self._until_disconnected(client))
            except* aiomqtt.MqttError as errors:
                if self._pending is not None:
                    self._failed += 1  # kept, and sent again after reconnecting
                what = "disconnected from" if self._connected else "cannot connect to"
                logger.warning("MQTT %s %s: %s", what, options.host, errors.exceptions[0])
                self._connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _publish_forever(self, client: aiomqtt.Client) -> None:
        assert self._queue is not None
        topic = f"{self._options.topic_prefix}/updates/configs"
        while True:
            if self._pending is None:
                self._pending = await self._queue.get()
            mac, payload = self._pending
            await client.publish(topic, payload, qos=1)
            await client.publish(f"{topic}/{mac}", payload, qos=1)
            self._published += 1
            self._pending = None

    @staticmethod
    async def _until_disconnected(client: aiomqtt.Client) -> None:
        """Raise `MqttError` when the connection drops, even while there is nothing to send:
        we subscribe to nothing, so the message iterator only ever ends that way."""
        async for _ in client.messages:
            pass

    def _client(self) -> aiomqtt.Client:
        options = self._options
        tls_context = None
        if options.tls:
            tls_context = ssl.create_default_context(
                cafile=str(options.ca_file) if options.ca_file else None
            )
        return aiomqtt.Client(
            options.host,
            options.port,
            username=options.username,
            password=options.password,
            identifier=options.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=tls_context,
            timeout=10,
            logger=logger,
        )
