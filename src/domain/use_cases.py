"""Use cases: one small class per thing an admin, a device or an operator asks of the service."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from domain.errors import StorageUnavailable
from domain.history import (
    DEFAULT_HISTORY_PAGE,
    MAX_HISTORY_PAGE,
    UNKNOWN_ORIGIN,
    ConfigHistory,
    RevisionContent,
    WriteOrigin,
)
from domain.merge_patch import apply_merge_patch
from domain.model import (
    ANY_STATE,
    ConfigDocument,
    ConfigListing,
    DeviceConfig,
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
