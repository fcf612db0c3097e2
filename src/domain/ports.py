"""Ports: what the domain needs from the outside world, as Protocols that adapters implement."""

from __future__ import annotations

from typing import Protocol

from domain.model import ConfigDocument, ConfigListing, DeviceConfig, MacAddress


class DeviceConfigRepository(Protocol):
    """Where device configs live. Every method may raise `StorageUnavailable`."""

    async def list_summaries(self) -> ConfigListing:
        """Return the summary of every readable config, sorted by MAC address.

        Entries that are not configs, or configs that cannot be read as a JSON object, are
        left out and reported in `ConfigListing.skipped`; they never make the listing fail.
        """
        ...

    async def get(self, mac_address: MacAddress) -> DeviceConfig:
        """Return the stored config.

        Raises `DeviceConfigNotFound` when there is none, `CorruptDeviceConfig` when the stored
        file is not a JSON object.
        """
        ...

    async def get_document(self, mac_address: MacAddress) -> ConfigDocument:
        """Return the stored bytes of a config, checked to be a JSON object but not re-encoded.

        Raises `DeviceConfigNotFound` or `CorruptDeviceConfig` as `get` does.
        """
        ...

    async def save(self, config: DeviceConfig, *, overwrite: bool) -> None:
        """Store the config atomically: readers see the old version or the new one, never a mix.

        With `overwrite=False` the check and the create are one atomic step: raises
        `DeviceConfigExists`, and changes nothing, when a config is already stored.
        """
        ...

    async def delete(self, mac_address: MacAddress) -> None:
        """Remove the config. Raises `DeviceConfigNotFound` when there is none."""
        ...

    async def count(self) -> int:
        """Return how many entries are named like a config, without reading them."""
        ...

    async def check(self) -> None:
        """Return when the storage can be used; raise `StorageUnavailable` saying why not."""
        ...
