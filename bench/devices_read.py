"""What `GET /api/devices` costs while the fleet polls, against the config list in the same rounds.

`python bench/devices_read.py [DEVICES] [POLL_SECONDS] [ROUNDS]` (defaults 20000 30 20): the
real app in-process (as bench/asgi_alone.py calls it) on DEVICES generated configs, every device
checked in once and flushed (a file each on the share), then polled once more (304, the same
ETag: the check-ins a replica holds back in steady state). Each round is one second of a fleet
polling every POLL_SECONDS: DEVICES / POLL_SECONDS device polls, then one `GET /api/devices`
and one `GET /api/configs`, each timed alone (CPU of the process, worker threads included); a
flush every 10 rounds, not counted. Then the same reads with nothing polled between them (the
quiet fleet bench/run.py measures). Prints the medians and their ratios.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from asgi_alone import GENERATOR, call
from run import etag

from domain.ports import CheckInLog
from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.observability.logs import configure_logging
from entrypoints.settings import Settings

FLUSH_EVERY_ROUNDS = 10
CALLERS = 16


async def poll(app: Any, paths: list[str], headers: list[list[tuple[bytes, bytes]]]) -> None:
    async def caller(first: int) -> None:
        for i in range(first, len(paths), CALLERS):
            await call(app, "GET", paths[i], headers[i])

    await asyncio.gather(*(caller(c) for c in range(CALLERS)))


async def timed(app: Any, path: str) -> float:
    before = time.process_time()
    status = await call(app, "GET", path, [])
    if status != 200:
        raise SystemExit(f"{path}: answered {status}")
    return (time.process_time() - before) * 1000


async def measure(
    app: Any, log: CheckInLog, directory: Path, macs: list[str], poll_seconds: float, rounds: int
) -> None:
    paths = [f"/api/configs/{mac}.json" for mac in macs]
    await poll(app, paths, [[] for _ in paths])  # each device's first download: 200
    await log.flush()
    conditional = [[(b"if-none-match", etag(directory / f"{mac}.json").encode())] for mac in macs]
    await poll(app, paths, conditional)  # then a 304 each: held back, as in steady state
    await log.flush()
    # Files changed in the last two seconds are read again rather than trusted (files.settled):
    # a fleet's files are older than that, but for the ones a flush just wrote.
    await asyncio.sleep(2.5)
    per_round = max(1, round(len(macs) / poll_seconds))
    figures: dict[str, list[float]] = {
        "devices, fleet polling": [],
        "config list, fleet polling": [],
        "devices, quiet": [],
        "config list, quiet": [],
    }
    cursor = 0
    for number in range(rounds):
        chosen = [(cursor + i) % len(macs) for i in range(per_round)]
        cursor += per_round
        await poll(app, [paths[i] for i in chosen], [conditional[i] for i in chosen])
        figures["devices, fleet polling"].append(await timed(app, "/api/devices"))
        figures["config list, fleet polling"].append(await timed(app, "/api/configs"))
        if number % FLUSH_EVERY_ROUNDS == FLUSH_EVERY_ROUNDS - 1:
            await log.flush()
    await log.flush()
    for _ in range(rounds):
        figures["devices, quiet"].append(await timed(app, "/api/devices"))
        figures["config list, quiet"].append(await timed(app, "/api/configs"))
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"{len(macs)} devices, {per_round} polls a round (one every {poll_seconds:g} s each)")
    for name, value in medians.items():
        print(f"  {name:<28} {value:8.2f} ms CPU a request (median of {rounds})")
    for state in ("fleet polling", "quiet"):
        ratio = medians[f"devices, {state}"] / medians[f"config list, {state}"]
        print(f"  devices against the config list, {state}: {ratio:.2f}x")


def main() -> None:
    devices = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    poll_seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    with tempfile.TemporaryDirectory() as directory:
        subprocess.run(
            [sys.executable, GENERATOR, directory, str(devices), "1"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        macs = sorted(name.removesuffix(".json") for name in os.listdir(directory))
        configure_logging("INFO", "text")
        logging.getLogger().handlers[0].setStream(open(os.devnull, "w"))  # noqa: SIM115
        container = bootstrap(Settings(configs_dir=Path(directory)))
        app = create_app(container)
        log = container.resolve(CheckInLog)
        asyncio.run(measure(app, log, Path(directory), macs, poll_seconds, rounds))


if __name__ == "__main__":
    main()
