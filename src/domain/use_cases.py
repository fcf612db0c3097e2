"""Use cases: one small class per thing an admin, a device or an operator asks of the service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from domain.diff import MAX_DIFF_BYTES, json_patch
from domain.errors import StorageUnavailable, TooLargeToCompare
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
from domain.ports import DeviceConfigRepository, Notifier


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
