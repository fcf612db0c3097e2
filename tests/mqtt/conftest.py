"""A real Mosquitto broker on a free loopback port, with a config file of the test's own.

Needs Debian's `mosquitto` (scripts/test.sh installs it). Without it the tests say how to get it
and skip, except in CI (CI=true), where they fail instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import attrs
import pytest

from tests.environment import unavailable
from tests.server_process import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
TOPICS = "iotsupport/updates/configs/#"


@attrs.define
class Broker:
    directory: Path
    port: int
    extra: list[str]
    process: subprocess.Popen[bytes] | None = None
    ca_file: Path | None = None

    def start(self) -> None:
        config = self.directory / "mosquitto.conf"
        config.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    "persistence false",
                    "user root",
                    "log_dest stderr",
                    *self.extra,
                ]
            )
            + "\n"
        )
        log = (self.directory / "mosquitto.log").open("ab")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"mosquitto exited: {(self.directory / 'mosquitto.log').read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        pytest.fail("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def require_mosquitto() -> None:
    if not Path(MOSQUITTO).exists():
        unavailable("Mosquitto is missing: `apt-get install mosquitto` (Debian), then run again.")


@contextlib.contextmanager
def running_broker(directory: Path, extra: list[str] | None = None) -> Iterator[Broker]:
    require_mosquitto()
    broker = Broker(directory, free_port(), extra or [])
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path, ["allow_anonymous true"]) as running:
        yield running


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Broker]:
    require_mosquitto()
    passwords = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "iot", "s3cret"],
        check=True,
        capture_output=True,
    )
    with running_broker(
        tmp_path, ["allow_anonymous false", f"password_file {passwords}"]
    ) as running:
        yield running


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for localhost and 127.0.0.1, signed by it."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=iot-support test CA",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    )
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return directory / "ca.crt", directory / "server.crt", directory / "server.key"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    require_mosquitto()
    ca, cert, key = make_ca(tmp_path)
    with running_broker(
        tmp_path,
        ["allow_anonymous true", f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"],
    ) as running:
        running.ca_file = ca
        yield running


@contextlib.asynccontextmanager
async def subscriber(
    broker: Broker, **options: object
) -> AsyncIterator[asyncio.Queue[aiomqtt.Message]]:
    """Collect every message under iotsupport/updates/configs, subscribed with QoS 1."""
    received: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
    async with aiomqtt.Client("127.0.0.1", broker.port, **options) as client:  # type: ignore[arg-type]
        await client.subscribe(TOPICS, qos=1)

        async def collect() -> None:
            async for message in client.messages:
                await received.put(message)

        task = asyncio.create_task(collect())
        try:
            yield received
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
