"""Use cases: one small class per thing an admin, a device or an operator asks of the service."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Mapping
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

    async def execute(self, states: frozenset[DeviceState] = frozenset()) -> tuple[Device, ...]:
        listing, records = await asyncio.gather(
            self._repository.list_summaries(), self._check_ins.records()
        )
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
        summaries = {summary.mac_address: summary for summary in listing.summaries}
        everyone = tuple(
            device(mac, summaries.get(mac), records.get(mac), now, self._timing)
            for mac in sorted(summaries.keys() | records.keys(), key=str)
        )
        floor = self._timing.quiet_floor_seconds
        due = (
            overdue_at(d.record, floor)
            for d in everyone
            if d.record is not None and d.state in (DeviceState.IN_SYNC, DeviceState.OUT_OF_SYNC)
        )
        holds_until = min((at for at in due if at is not None), default=math.inf)
        self._made = (listing, records, now, holds_until, everyone)
        self._filtered = {}
        return everyone


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
