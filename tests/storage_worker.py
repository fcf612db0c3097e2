"""A separate process that writes configs through the filesystem adapter.

Run as `python -m tests.storage_worker MODE ...` by the concurrency and crash tests:

    race DIRECTORY MAC WRITER START_FILE save|delete   one operation, once START_FILE exists
    loop DIRECTORY MAC[,MAC...]                         save new versions until killed
    churn DIRECTORY MAC[,MAC...]                        the same, every fourth write a delete
    increment DIRECTORY MAC COUNT                       COUNT read-modify-conditional-writes
    increment-http BASE_URL[,BASE_URL...] MAC COUNT     the same through the HTTP API
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from adapters.filesystem import FilesystemDeviceConfigRepository
from domain.errors import DeviceConfigNotFound, PreconditionFailed
from domain.model import DeviceConfig, MacAddress, WriteCondition

REPO_ROOT = Path(__file__).resolve().parents[1]


def spawn(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """Start this module in a new process with the given arguments."""
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'src'}"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.storage_worker", *args],
        env=env,
        cwd=REPO_ROOT,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


def race_content(writer: int) -> dict[str, Any]:
    """A body unique to one writer, large enough that concurrent writes overlap."""
    return {"writer": writer, "payload": f"{writer:04d}" * 16_000}


def version_content(mac: str, version: int) -> dict[str, Any]:
    """Version `version` of a config: its payload size varies, so a torn file cannot pass."""
    return {
        "mac": mac,
        "version": version,
        "payload": f"{version:08d}" * (1 + version * 7919 % 25_000),
    }


async def race(directory: Path, mac: str, writer: int, operation: str) -> str:
    repository = FilesystemDeviceConfigRepository(directory)
    address = MacAddress(mac)
    if operation == "save":
        await repository.save(DeviceConfig(address, race_content(writer)), overwrite=True)
        return "saved"
    try:
        await repository.delete(address)
    except DeviceConfigNotFound:
        return "not found"
    return "deleted"


async def loop(directory: Path, macs: list[str]) -> None:
    repository = FilesystemDeviceConfigRepository(directory)
    version = 0
    while True:
        mac = macs[version % len(macs)]
        await repository.save(
            DeviceConfig(MacAddress(mac), version_content(mac, version)), overwrite=True
        )
        if version == 0:
            print("ready", flush=True)
        version += 1


async def churn(directory: Path, macs: list[str]) -> None:
    """As `loop`, but every fourth write is a delete: history records both."""
    repository = FilesystemDeviceConfigRepository(directory)
    version = 0
    while True:
        mac = MacAddress(macs[version % len(macs)])
        if version % 4 == 3:
            with contextlib.suppress(DeviceConfigNotFound):
                await repository.delete(mac)
        else:
            await repository.save(DeviceConfig(mac, version_content(str(mac), version)))
        if version == 0:
            print("ready", flush=True)
        version += 1


async def increment(directory: Path, mac: str, count: int) -> None:
    """Add one to the counter `count` times, each time read -> modify -> write if unchanged."""
    repository = FilesystemDeviceConfigRepository(directory)
    address = MacAddress(mac)
    done = conflicts = 0
    while done < count:
        current = await repository.get(address)
        content = {**current.config.content, "counter": current.config.content["counter"] + 1}
        unchanged = WriteCondition(revision_in=frozenset({current.document.revision}))
        try:
            await repository.save(DeviceConfig(address, content), condition=unchanged)
        except PreconditionFailed:
            conflicts += 1
            continue
        done += 1
    print(f"{done} {conflicts}")


def increment_http(base_urls: list[str], mac: str, count: int) -> None:
    """The same over HTTP, spreading requests over the replicas: GET, then PUT with If-Match."""
    import httpx

    done = conflicts = attempt = 0
    with httpx.Client(timeout=30) as client:
        while done < count:
            base = base_urls[attempt % len(base_urls)]
            attempt += 1
            current = client.get(f"{base}/api/configs/{mac}")
            current.raise_for_status()
            content = current.json()["content"]
            content["counter"] += 1
            written = client.put(
                f"{base_urls[attempt % len(base_urls)]}/api/configs/{mac}",
                json={"content": content},
                headers={"If-Match": current.headers["ETag"]},
            )
            if written.status_code == 412:
                conflicts += 1
                continue
            written.raise_for_status()
            done += 1
    print(f"{done} {conflicts}")


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "race":
        directory, mac, writer, start_file, operation = argv[1:6]
        while not Path(start_file).exists():
            time.sleep(0.001)
        print(asyncio.run(race(Path(directory), mac, int(writer), operation)))
    elif mode == "loop":
        asyncio.run(loop(Path(argv[1]), argv[2].split(",")))
    elif mode == "churn":
        asyncio.run(churn(Path(argv[1]), argv[2].split(",")))
    elif mode == "increment":
        asyncio.run(increment(Path(argv[1]), argv[2], int(argv[3])))
    elif mode == "increment-http":
        increment_http(argv[1].split(","), argv[2], int(argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
