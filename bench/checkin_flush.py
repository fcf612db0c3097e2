"""What the check-in flush costs the share: writes per second, and CPU per flush, for a fleet.

`python bench/checkin_flush.py [DEVICES] [POLL_SECONDS] [MINUTES]` (defaults 20000 30 15):
every device downloads its file every POLL_SECONDS (spread evenly, each answered 304 with the
same ETag, as in steady state), and one replica flushes every CHECKIN_FLUSH_SECONDS (10 s)
with the default refresh period (300 s), for MINUTES of simulated time. The adapter runs as in
the service, on a real directory; only its clock is simulated (the flushes follow each other at
once), so the writes per simulated second are what the share would see. Prints the writes per
second over the first refresh period (every device new) and in steady state after it, and the
CPU milliseconds per flush.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import types
from pathlib import Path

from adapters.filesystem import checkins
from domain.checkins import CheckIn
from domain.model import MacAddress

FLUSH_SECONDS = 10.0
REFRESH_SECONDS = 300.0


class SimulatedClock(types.SimpleNamespace):
    """Stands in for the `time` module inside the adapter."""

    now: float = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return int(self.now * 1e9)


async def main(devices: int, poll_seconds: float, minutes: float) -> None:
    clock = SimulatedClock()
    checkins.time = clock  # type: ignore[assignment]
    directory = Path(tempfile.mkdtemp(prefix="iot-bench-checkins-"))
    macs = [
        MacAddress(f"02-00-00-{i >> 16 & 255:02x}-{i >> 8 & 255:02x}-{i & 255:02x}")
        for i in range(devices)
    ]
    for mac in macs:  # every device has a config: none is capped as unknown
        (directory / f"{mac}.json").write_text("{}\n")
    log = checkins.FilesystemCheckInLog(directory, refresh_seconds=REFRESH_SECONDS)
    start = clock.now
    flushes = int(minutes * 60 / FLUSH_SECONDS)
    written_before, warm_flushes, cpu = 0, int(REFRESH_SECONDS / FLUSH_SECONDS), 0.0
    for flush in range(flushes):
        window_start = start + flush * FLUSH_SECONDS
        for index, mac in enumerate(macs):
            # Device `index` polls at offset index/devices of its period, every period.
            first = (index / devices) * poll_seconds
            at = window_start + ((first - window_start + start) % poll_seconds)
            while at < window_start + FLUSH_SECONDS:
                log.record(CheckIn(mac, at, 304, "etag", "192.0.2.9", "ESP32HTTPClient"))
                at += poll_seconds
        clock.now = window_start + FLUSH_SECONDS
        before = os.times()
        await log.flush()
        after = os.times()
        cpu += (after.user - before.user) + (after.system - before.system)
        if flush + 1 == warm_flushes:
            written_before = log.stats().written
    steady_seconds = (flushes - warm_flushes) * FLUSH_SECONDS
    steady = (log.stats().written - written_before) / steady_seconds
    print(f"{devices} devices polling every {poll_seconds:g} s, {minutes:g} simulated minutes")
    print(f"  first {REFRESH_SECONDS:g} s: {written_before / REFRESH_SECONDS:.1f} writes/s")
    print(
        f"  steady state: {steady:.1f} writes/s (the refresh rule: {devices / REFRESH_SECONDS:.1f})"
    )
    print(f"  check-ins recorded: {log.stats().recorded}, files written: {log.stats().written}")
    print(f"  CPU per flush: {cpu * 1000 / flushes:.1f} ms (one every {FLUSH_SECONDS:g} s)")
    for read in ("a first read", "a read again"):
        started = time.perf_counter()
        records = await log.records()
        seconds = time.perf_counter() - started
        print(f"  {read} of all {len(records)} records: {seconds * 1000:.0f} ms")


if __name__ == "__main__":
    arguments = [float(value) for value in sys.argv[1:]]
    devices, poll, minutes = [*arguments, *(20000, 30, 15)[len(arguments) :]][:3]
    asyncio.run(main(int(devices), poll, minutes))
