"""What a save costs the storage alone: the filesystem adapter, without HTTP, on the same disk.

Run by bench/run.py: `python bench/storage_alone.py DIRECTORY BODY_FILE [--one] [--no-history]`
(the last: as with HISTORY=off, the history's cost measured by difference). Saves the body
with 16 concurrent callers (as wrk's 16 connections do) to spread MACs, or to one MAC with
`--one`, through `FilesystemDeviceConfigRepository.save` (lock, temp file, write, fsync,
rename, directory fsync, and the thread hop), and prints this process's CPU milliseconds per
save. The benchmark's save target is 3x the framework floor plus this.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from adapters.filesystem import FilesystemDeviceConfigRepository
from domain.model import DeviceConfig, MacAddress

CALLERS = 16
SAVES_PER_CALLER = 100


async def main(directory: Path, body_file: Path, one: bool, history: bool) -> None:
    repository = FilesystemDeviceConfigRepository(directory, history=history)
    content = json.loads(body_file.read_bytes())["content"]  # noqa: ASYNC240 - before timing
    macs = [MacAddress(f"02-00-00-00-{i // 256:02x}-{i % 256:02x}") for i in range(CALLERS)]

    async def caller(index: int) -> None:
        config = DeviceConfig(macs[0 if one else index], content)
        for _ in range(SAVES_PER_CALLER):
            await repository.save(config)

    await caller(0)  # warm-up: the lock directory, the first file
    before = os.times()
    await asyncio.gather(*(caller(i) for i in range(CALLERS)))
    after = os.times()
    used = (after.user - before.user) + (after.system - before.system)
    print(f"{used * 1000 / (CALLERS * SAVES_PER_CALLER):.4f}")


if __name__ == "__main__":
    flags = sys.argv[3:]
    asyncio.run(
        main(Path(sys.argv[1]), Path(sys.argv[2]), "--one" in flags, "--no-history" not in flags)
    )
