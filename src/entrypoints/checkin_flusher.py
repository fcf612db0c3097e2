"""Beside the app while check-ins are on: every CHECKIN_FLUSH_SECONDS, the replica's check-ins
are flushed to the share and its devices counted by state (the `iot_devices` gauges); a last
flush when the app stops, so a graceful restart loses none."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from domain.checkins import DeviceState
from domain.errors import DomainError
from domain.ports import CheckInLog
from domain.use_cases import ListDevices

logger = logging.getLogger(__name__)

# A stop waits this long at most for the last flush (a hung share must not hold up shutdown).
LAST_FLUSH_SECONDS = 5.0


class CheckInFlusher:
    def __init__(
        self, check_ins: CheckInLog, devices: ListDevices, interval_seconds: float
    ) -> None:
        self._check_ins = check_ins
        self._devices = devices
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None
        # Devices by state as last counted; None until counted, or when the count failed.
        self.census: dict[str, int] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await asyncio.wait_for(self._check_ins.flush(), LAST_FLUSH_SECONDS)
        except (DomainError, TimeoutError) as problem:
            logger.warning("the last check-in flush failed: %s", problem)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush_and_count()

    async def flush_and_count(self) -> None:
        """One round; a failure is logged and the next round tries again."""
        try:
            await self._check_ins.flush()
            devices = await self._devices.execute()
        except Exception as problem:  # a round that fails must not end the task
            self.census = None
            logger.warning("device check-ins were not flushed or counted: %s", problem)
            return
        counts = collections.Counter(device.state.value for device in devices)
        self.census = {state.value: counts[state.value] for state in DeviceState}
