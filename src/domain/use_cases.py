"""Use cases: one small class per thing an admin, a device or an operator asks of the service."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Mapping, Set
from typing import Any

import attrs

from domain.checkins import (
    CheckIn,
    CheckInTiming,
    Device,
    DeviceRecord,
    DeviceState,
    device,
    overdue_at,
)
from domain.diff import MAX_DIFF_BYTES, json_patch
from domain.errors import (
    CorruptDeviceConfig,
    DeviceConfigNotFound,
    DeviceNotFound,
    StorageUnavailable,
    TooLargeToCompare,
)
from domain.history import (
    CURRENT,
    DEFAULT_HISTORY_PAGE,
    MAX_HISTORY_PAGE,
    UNKNOWN_ORIGIN,
    ConfigHistory,
    DeletedConfig,
    RevisionContent,
    WriteOrigin,
    holds_no_config,
)
from domain.merge_patch import apply_merge_patch
from domain.model import (
    ANY_STATE,
    ConfigDocument,
    ConfigListing,
    DeviceConfig,
    DeviceConfigSummary,
    JsonObject,
    MacAddress,
    StorageStatus,
    StoredConfig,
    WriteCondition,
)
from domain.ports import CheckInLog, DeviceConfigRepository, Notifier


class _RepositoryUseCase:
    """Base of the use cases that need only the repository; punq injects it by this annotation."""

    def __init__(self, repository: DeviceConfigRepository) -> None:
        self._repository = repository


class ListDeviceConfigs(_RepositoryUseCase):
    async def execute(self) -> ConfigListing:
        return await self._repository.list_summaries()


class GetDeviceConfig(_RepositoryUseCase):
    async def execute(self, mac_address: MacAddress) -> StoredConfig:
        return await self._repository.get(mac_address)


class GetConfigDocument(_RepositoryUseCase):
    """What a device downloads: its config's stored bytes, unchanged."""

    async def execute(self, mac_address: MacAddress) -> ConfigDocument:
        return await self._repository.get_document(mac_address)


class _NotifyingUseCase:
    """Base of the use cases that save: the repository, and the notifier told after a save."""

    def __init__(self, repository: DeviceConfigRepository, notifier: Notifier) -> None:
        self._repository = repository
        self._notifier = notifier


class SaveDeviceConfig(_NotifyingUseCase):
    """Create or replace a config; with `allow_overwrite=False`, create only. Devices are told
    once the save is durable, never for a refused or failed one."""

    async def execute(
        self,
        config: DeviceConfig,
        *,
        allow_overwrite: bool = True,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        stored = await self._repository.save(
            config, overwrite=allow_overwrite, condition=condition, origin=origin
        )
        await self._notifier.config_saved(stored)
        return stored


class PatchDeviceConfig(_NotifyingUseCase):
    """Change part of a stored config with a JSON Merge Patch (RFC 7396).

    The result must still be a JSON object (`InvalidDeviceConfig` otherwise); the read, the merge
    and the write are one atomic step, so concurrent patches never lose each other's changes.
    """

    async def execute(
        self,
        mac_address: MacAddress,
        patch: Any,
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        def merge(current: DeviceConfig) -> DeviceConfig:
            return DeviceConfig(mac_address, apply_merge_patch(current.content, patch))

        stored = await self._repository.update(
            mac_address, merge, condition=condition, origin=origin
        )
        await self._notifier.config_saved(stored)
        return stored


class DeleteDeviceConfig(_RepositoryUseCase):
    """Delete a config. Devices are not told: one would only restart to find nothing."""

    async def execute(
        self,
        mac_address: MacAddress,
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> None:
        await self._repository.delete(mac_address, condition=condition, origin=origin)


class GetConfigHistory(_RepositoryUseCase):
    """A page of a config's revisions, newest first (deleted configs keep theirs)."""

    async def execute(
        self,
        mac_address: MacAddress,
        *,
        limit: int = DEFAULT_HISTORY_PAGE,
        before: str | None = None,
    ) -> ConfigHistory:
        return await self._repository.history(
            mac_address, limit=min(max(limit, 1), MAX_HISTORY_PAGE), before=before
        )


class GetRevision(_RepositoryUseCase):
    """One revision of a config, with the bytes it kept."""

    async def execute(self, mac_address: MacAddress, revision: str) -> RevisionContent:
        return await self._repository.revision(mac_address, revision)


class RestoreRevision(_NotifyingUseCase):
    """Store an earlier revision's bytes again as a new version (undelete, too): devices get
    exactly what they got then, and are told as after a save."""

    async def execute(
        self,
        mac_address: MacAddress,
        revision: str,
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        stored = await self._repository.restore(
            mac_address, revision, condition=condition, origin=origin
        )
        await self._notifier.config_saved(stored)
        return stored


class CompareRevisions(_RepositoryUseCase):
    """The JSON Patch (RFC 6902) that turns one revision of a config into another, or into the
    version stored now (`CURRENT`)."""

    async def execute(
        self, mac_address: MacAddress, revision: str, to: str = CURRENT
    ) -> list[dict[str, Any]]:
        source = await self._version(mac_address, revision)
        target = await self._version(mac_address, to)
        # Off the event loop: bounded (MAX_DIFF_BYTES), but up to a second of work.
        return await asyncio.to_thread(json_patch, source, target)

    async def _version(self, mac_address: MacAddress, revision: str) -> JsonObject:
        if revision == CURRENT:
            stored = await self._repository.get(mac_address)
            size, content = len(stored.document.body), stored.config.content
        else:
            found = await self._repository.revision(mac_address, revision)
            if found.content is None:
                raise holds_no_config(mac_address, found, "compare")
            size, content = len(found.body), found.content
        if size > MAX_DIFF_BYTES:
            raise TooLargeToCompare(str(mac_address), size, MAX_DIFF_BYTES)
        return content


class ListDeletedConfigs(_RepositoryUseCase):
    """Configs whose newest revision is a delete, newest first: what can be brought back."""

    async def execute(self) -> tuple[DeletedConfig, ...]:
        return await self._repository.deleted()


class RecordCheckIn:
    """A device downloaded its file: keep it as a check-in. Not a coroutine: it runs on the
    download's own path, and the port promises no I/O, lock or wait."""

    def __init__(self, check_ins: CheckInLog) -> None:
        self._check_ins = check_ins

    def execute(self, check_in: CheckIn) -> None:
        self._check_ins.record(check_in)


class _DevicesUseCase:
    """Base of the device check-in use cases; punq injects by these annotations."""

    def __init__(
        self, repository: DeviceConfigRepository, check_ins: CheckInLog, timing: CheckInTiming
    ) -> None:
        self._repository = repository
        self._check_ins = check_ins
        self._timing = timing


class ListDevices(_DevicesUseCase):
    """Every MAC that has a config or has checked in, sorted, each with its state; only those
    in `states` when given."""

    def __init__(
        self, repository: DeviceConfigRepository, check_ins: CheckInLog, timing: CheckInTiming
    ) -> None:
        super().__init__(repository, check_ins, timing)
        # The last list, with what it was made from, when, and until when it holds: given
        # again (the same object, so its encoding is kept too) while the listing and the
        # records are the very same objects (their ports' promise: nothing changed) and no
        # device's state has changed with time alone (the first `overdue_at` to pass).
        self._made: tuple[object, object, float, float, tuple[Device, ...]]
        self._made = (None, None, math.inf, -math.inf, ())
        # That list filtered, per set of states asked for (at most 2**5 of them).
        self._filtered: dict[frozenset[DeviceState], tuple[Device, ...]] = {}
        # Each device of that list, as it was made (see `_list`), and the listing's summaries
        # by MAC, made once per listing object.
        self._devices: dict[str, _MadeDevice] = {}
        self._summaries: tuple[object, dict[str, DeviceConfigSummary]] = (None, {})
        # The MACs of that list, and in order: sorted again only when they are other MACs.
        self._order: tuple[Set[str], tuple[str, ...]] = (frozenset(), ())

    async def execute(self, states: frozenset[DeviceState] = frozenset()) -> tuple[Device, ...]:
        # One after the other, not gathered: both are 20,000 stats on worker threads at full
        # size, and two threads making system calls at once pass the GIL back and forth at
        # each one (measured with bench/devices_read.py: 2.4x the CPU of the two in turn).
        listing = await self._repository.list_summaries()
        records = await self._check_ins.records()
        now = time.time()
        made_from_listing, made_from_records, made_at, holds_until, everyone = self._made
        unchanged = listing is made_from_listing and records is made_from_records
        if not (unchanged and made_at <= now < holds_until):
            everyone = self._list(listing, records, now)
        if not states:
            return everyone
        kept = self._filtered.get(states)
        if kept is None:
            kept = self._filtered[states] = tuple(d for d in everyone if d.state in states)
        return kept

    def _list(
        self, listing: ConfigListing, records: Mapping[MacAddress, DeviceRecord], now: float
    ) -> tuple[Device, ...]:
        """The list made again, each device kept from the last one while its summary and record
        are the very same objects and its state cannot have changed with time: with a fleet
        polling, a few records change between two reads, not 20,000."""
        # Keyed by the MAC's text: a str hashes once and compares in C, a MacAddress in Python
        # at each of the 80,000 lookups a list of 20,000 makes.
        if listing is not self._summaries[0]:
            self._summaries = (listing, {s.mac_address.value: s for s in listing.summaries})
        summaries = self._summaries[1]
        by_name = {mac.value: record for mac, record in records.items()}
        names = summaries.keys() | by_name.keys()
        if names != self._order[0]:  # a device came or went: sorted again
            self._order = (names, tuple(sorted(names)))
        last = self._devices if now >= self._made[2] else {}  # a clock set back: all anew
        floor = self._timing.quiet_floor_seconds
        made: dict[str, _MadeDevice] = {}
        everyone: list[Device] = []
        holds_until = math.inf
        for name in self._order[1]:
            summary, record, kept = summaries.get(name), by_name.get(name), last.get(name)
            if kept is None or not kept.holds(summary, record, now):
                mac = summary.mac_address if summary is not None else MacAddress(name)
                made_now = device(mac, summary, record, now, self._timing)
                due = None
                if record is not None and made_now.state in _SYNC_STATES:
                    due = overdue_at(record, floor)
                kept = _MadeDevice(summary, record, made_now, math.inf if due is None else due)
            made[name] = kept
            everyone.append(kept.device)
            if kept.holds_until < holds_until:
                holds_until = kept.holds_until
        self._devices = made
        self._made = (listing, records, now, holds_until, tuple(everyone))
        self._filtered = {}
        return self._made[4]


@attrs.frozen
class _MadeDevice:
    """A device as the list made it, from what, and until when its state holds."""

    summary: DeviceConfigSummary | None
    record: DeviceRecord | None
    device: Device
    holds_until: float

    def holds(
        self, summary: DeviceConfigSummary | None, record: DeviceRecord | None, now: float
    ) -> bool:
        """Whether it is still the device made from these, at `now`."""
        return self.summary is summary and self.record is record and now < self.holds_until


_SYNC_STATES = (DeviceState.IN_SYNC, DeviceState.OUT_OF_SYNC)


class GetDevice(_DevicesUseCase):
    """One device; `DeviceNotFound` when it has neither a config nor a check-in."""

    async def execute(self, mac_address: MacAddress) -> Device:
        record = await self._check_ins.record_of(mac_address)
        try:
            stored = await self._repository.get(mac_address)
        except (DeviceConfigNotFound, CorruptDeviceConfig):
            summary = None  # a corrupt file is no config to a device, as in the list
        else:
            summary = stored.config.summary()
            summary = attrs.evolve(summary, etag=stored.document.revision)
        if record is None and summary is None:
            raise DeviceNotFound(str(mac_address))
        return device(mac_address, summary, record, time.time(), self._timing)


class ForgetDevice(_DevicesUseCase):
    """Remove a device's check-ins (its config stays); `DeviceNotFound` when none are kept."""

    async def execute(self, mac_address: MacAddress) -> None:
        if not await self._check_ins.forget(mac_address):
            raise DeviceNotFound(str(mac_address))


class CheckStorage(_RepositoryUseCase):
    """Tell whether configs can be listed right now (the health probe); never raises for it."""

    async def execute(self) -> StorageStatus:
        return await _status_of(self._repository.check())


class CheckWrites(_RepositoryUseCase):
    """Tell whether storage takes writes (the health body, a gauge); never raises for it. A
    replica that can read but not write still serves devices, so this is reported, not fatal."""

    async def execute(self) -> StorageStatus:
        return await _status_of(self._repository.check_writes())


async def _status_of(check: Awaitable[None]) -> StorageStatus:
    try:
        await check
    except StorageUnavailable as problem:
        return StorageStatus(problem)
    return StorageStatus()
