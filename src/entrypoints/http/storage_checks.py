"""The looks at storage that health and `/metrics` take, each bounded by `HEALTH_TIMEOUT_SECONDS`:
a hung network filesystem must not hold a Kubernetes probe or a Prometheus scrape past it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import attrs
import msgspec

from domain.errors import StorageUnavailable
from domain.model import ConfigListing, StorageStatus
from domain.use_cases import CheckStorage, CheckWrites, ListDeviceConfigs
from entrypoints.http.answer import JSON_TYPE, Answer, error
from entrypoints.http.schemas import HealthOut, WritesOut
from entrypoints.observability.metrics import Metrics
from entrypoints.settings import Settings

T = TypeVar("T")

TIMEOUT = "timeout"
# How old a listing the storage gauges may show (the list route's or an earlier scrape's)
# before a scrape lists again. Prometheus scrapes every 15-60 s, so each of its scrapes lists;
# scrapes closer together (two Prometheus servers, a hammering script) share one listing
# (about 50 ms of a worker thread at 20,000 configs) per window instead of one each.
LISTING_MAX_AGE_SECONDS = 10.0
WRITES_OK = WritesOut(status="ok")


@attrs.frozen
class Trouble:
    """What went wrong with a look at storage: a stable label and a sentence for people."""

    reason: str
    message: str

    @classmethod
    def of(cls, status: StorageStatus) -> Trouble | None:
        problem = status.problem
        return None if problem is None else cls(problem.failure.value, problem.message)


class StorageChecks:
    def __init__(
        self,
        reads: CheckStorage,
        writes: CheckWrites,
        listing: ListDeviceConfigs,
        settings: Settings,
    ) -> None:
        self._reads = reads
        self._writes = writes
        self._listing = listing
        self._bound_seconds = settings.health_timeout_seconds

    async def health(self, correlation_id: str) -> Answer:
        """`GET /api/health`: 200 while the directory can be read, whether or not writes work
        (a replica that reads keeps serving devices; the body says how writes are doing), or
        503 with the reason. Never later than the bound: reads, then writes in what is left."""
        deadline = asyncio.get_running_loop().time() + self._bound_seconds
        reads = await self._within(self._reads.execute(), "storage check", deadline)
        trouble = reads if isinstance(reads, Trouble) else Trouble.of(reads)
        if trouble is not None:
            extra = {"status": "unhealthy", "reason": trouble.reason}
            return error(503, "STORAGE_UNAVAILABLE", trouble.message, correlation_id, extra=extra)
        writes = await self.writes(deadline)
        body = HealthOut(
            status="healthy",
            writes=WRITES_OK
            if writes is None
            else WritesOut(status="failing", reason=writes.reason, message=writes.message),
        )
        return Answer(200, dict(JSON_TYPE), msgspec.json.encode(body))

    async def writes(self, deadline: float | None = None) -> Trouble | None:
        """Whether the latest write (or a probe write, when there was none lately) worked."""
        writes = await self._within(self._writes.execute(), "write check", deadline)
        return writes if isinstance(writes, Trouble) else Trouble.of(writes)

    async def observe(self, metrics: Metrics) -> None:
        """Set the storage gauges from a listing (what the list route counts), unless one was
        made in the last few seconds, and from the writes."""
        if not metrics.storage_seen_within(LISTING_MAX_AGE_SECONDS):
            try:
                listing = await self._within(self._listing.execute(), "listing")
            except StorageUnavailable:
                listing = None
            metrics.storage_seen(listing if isinstance(listing, ConfigListing) else None)
        metrics.writes_seen(await self.writes() is None)

    async def _within(
        self, work: Awaitable[T], what: str, deadline: float | None = None
    ) -> T | Trouble:
        """`work`'s result, or a Trouble when it is not done by `deadline` (loop time; by
        default, the bound from now). The storage checks are shielded and go on to finish and
        count for the next caller; a listing stops here."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + self._bound_seconds
        try:
            async with asyncio.timeout_at(deadline):  # no task per call, unlike wait_for
                return await work
        except TimeoutError:
            return Trouble(TIMEOUT, f"The {what} did not finish within {self._bound_seconds:g} s.")
