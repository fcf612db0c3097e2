"""Hand-written fakes behind the domain's ports."""

from __future__ import annotations

import time

from adapters.filesystem_repository import encode_content
from domain.errors import (
    DeviceConfigExists,
    DeviceConfigNotFound,
    StorageFailure,
    StorageUnavailable,
)
from domain.model import ConfigDocument, ConfigListing, DeviceConfig, MacAddress
from domain.ports import DeviceConfigRepository


class InMemoryDeviceConfigRepository(DeviceConfigRepository):
    """A dict behind the repository port. Set `failure` to make every call fail like storage."""

    def __init__(self, *configs: DeviceConfig) -> None:
        self.configs: dict[MacAddress, DeviceConfig] = {c.mac_address: c for c in configs}
        self.failure: StorageFailure | None = None

    def _available(self) -> None:
        if self.failure is not None:
            raise StorageUnavailable(self.failure)

    async def list_summaries(self) -> ConfigListing:
        self._available()
        return ConfigListing(tuple(c.summary() for _, c in sorted(self.configs.items())))

    async def get(self, mac_address: MacAddress) -> DeviceConfig:
        self._available()
        try:
            return self.configs[mac_address]
        except KeyError:
            raise DeviceConfigNotFound(str(mac_address)) from None

    async def get_document(self, mac_address: MacAddress) -> ConfigDocument:
        config = await self.get(mac_address)
        return ConfigDocument(mac_address, encode_content(config.content), time.time())

    async def save(self, config: DeviceConfig, *, overwrite: bool) -> None:
        self._available()
        if not overwrite and config.mac_address in self.configs:
            raise DeviceConfigExists(str(config.mac_address))
        self.configs[config.mac_address] = config

    async def delete(self, mac_address: MacAddress) -> None:
        self._available()
        if self.configs.pop(mac_address, None) is None:
            raise DeviceConfigNotFound(str(mac_address))

    async def count(self) -> int:
        self._available()
        return len(self.configs)

    async def check(self) -> None:
        self._available()
