"""A separate process that writes configs through the filesystem adapter.

Run as `python -m tests.storage_worker MODE ...` by the concurrency and crash tests:

    race DIRECTORY MAC WRITER START_FILE save|delete   one operation, once START_FILE exists
    loop DIRECTORY MAC[,MAC...]                         save new versions until killed
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from adapters.filesystem_repository import FilesystemDeviceConfigRepository
from domain.errors import DeviceConfigNotFound
from domain.model import DeviceConfig, MacAddress


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


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "race":
        directory, mac, writer, start_file, operation = argv[1:6]
        while not Path(start_file).exists():
            time.sleep(0.001)
        print(asyncio.run(race(Path(directory), mac, int(writer), operation)))
    elif mode == "loop":
        asyncio.run(loop(Path(argv[1]), argv[2].split(",")))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
