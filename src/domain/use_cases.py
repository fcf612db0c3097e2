"""Use cases: one small class per thing an admin, a device or an operator asks of the service."""

from __future__ import annotations

from domain.errors import StorageUnavailable
from domain.model import ConfigDocument, ConfigListing, DeviceConfig, MacAddress, StorageStatus
from domain.ports import DeviceConfigRepository


class _RepositoryUseCase:
    """Base of the use cases that need only the repository; punq injects it by this annotation."""

    def __init__(self, repository: DeviceConfigRepository) -> None:
        self._repository = repository


class ListDeviceConfigs(_RepositoryUseCase):
    async def execute(self) -> ConfigListing:
        return await self._repository.list_summaries()


class GetDeviceConfig(_RepositoryUseCase):
    async def execute(self, mac_address: MacAddress) -> DeviceConfig:
        return await self._repository.get(mac_address)


class GetConfigDocument(_RepositoryUseCase):
    """What a device downloads: its config's stored bytes, unchanged."""

    async def execute(self, mac_address: MacAddress) -> ConfigDocument:
        return await self._repository.get_document(mac_address)


class SaveDeviceConfig(_RepositoryUseCase):
    """Create or replace a config; with `allow_overwrite=False`, create only."""

    async def execute(self, config: DeviceConfig, *, allow_overwrite: bool = True) -> DeviceConfig:
        await self._repository.save(config, overwrite=allow_overwrite)
        return config


class DeleteDeviceConfig(_RepositoryUseCase):
    async def execute(self, mac_address: MacAddress) -> None:
        await self._repository.delete(mac_address)


class CountDeviceConfigs(_RepositoryUseCase):
    async def execute(self) -> int:
        return await self._repository.count()


class CheckStorage(_RepositoryUseCase):
    """Tell whether configs can be listed right now (the health probe); never raises for it."""

    async def execute(self) -> StorageStatus:
        try:
            await self._repository.check()
        except StorageUnavailable as problem:
            return StorageStatus(problem)
        return StorageStatus()
