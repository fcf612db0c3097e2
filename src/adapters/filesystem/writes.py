"""Whether the configs directory takes writes, known without waiting for an admin's save.

A replica whose disk is full or mounted read-only still reads, so its health status stays 200
(devices keep their configs); what it tells operators is this: the outcome of the latest write,
a save or delete if there was one lately, otherwise a probe write made at most once per
`interval_seconds` (a hidden temp file written, fsynced and removed, as a save would).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.filesystem.files import TEMP_SUFFIX, failure_of
from adapters.filesystem.state_log import StateLog
from domain.errors import StorageFailure, StorageUnavailable

logger = logging.getLogger("adapters.filesystem")

DEFAULT_WRITE_PROBE_SECONDS = 30.0
# The probe's temp file; the listing hides it (a dot name) and sweeps it when a crash left it.
PROBE_PREFIX = ".write-probe."
# Runs `function` on a writer thread and returns an awaitable of its result.
RunWrite = Callable[[Callable[[], None]], "asyncio.Future[None]"]


class WriteWatch:
    def __init__(
        self,
        directory: Path,
        run: RunWrite,
        interval_seconds: float = DEFAULT_WRITE_PROBE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._run = run
        self._interval_seconds = interval_seconds
        self._clock = clock
        # (when, what went wrong or None); None until the first write or probe.
        self._latest: tuple[float, StorageUnavailable | None] | None = None
        self._probe: asyncio.Future[None] | None = None
        self._state = StateLog(directory, "writes to %s fail: %s%s", "writes to %s succeed again")

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Record the outcome of the write made inside: a storage failure, or success. Any
        other ending (a failed precondition, a config that exists) says nothing about storage,
        and nor does a lock held too long by a stuck peer: that is one config's trouble."""
        try:
            yield
        except StorageUnavailable as failure:
            if failure.failure is not StorageFailure.LOCKED:
                self._record(failure)
            raise
        self._record(None)

    async def check(self) -> None:
        """Raise what the latest write ran into; probe first when none was made lately. One
        probe at a time, shielded: a caller that stops waiting leaves it to finish and count."""
        latest = self._latest
        if latest is None or self._clock() - latest[0] >= self._interval_seconds:
            if self._probe is None or self._probe.done():
                self._probe = self._run(self._write_probe)
            await asyncio.shield(self._probe)
            latest = self._latest
        if latest is not None and latest[1] is not None:
            raise latest[1]

    def _write_probe(self) -> None:
        with self.watching():
            probe_write(self._directory)

    def _record(self, failure: StorageUnavailable | None) -> None:
        self._latest = (self._clock(), failure)
        self._state.seen(failure)


def probe_write(directory: Path) -> None:
    """What a save does to the directory, less the rename: create, write, fsync, remove. A full
    disk, a read-only mount or a lost permission fails here. Not logged (see `_record`)."""
    try:
        fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
        try:
            try:
                os.write(fd, b"{}\n")
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            os.unlink(name)
    except OSError as exc:
        raise StorageUnavailable(failure_of(exc)) from exc
