"""Ports: what the domain needs from the outside world, as Protocols that adapters implement."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from domain.checkins import CheckIn, DeviceRecord
from domain.history import (
    UNKNOWN_ORIGIN,
    ConfigHistory,
    DeletedConfig,
    RevisionContent,
    WriteOrigin,
)
from domain.model import (
    ANY_STATE,
    ConfigDocument,
    ConfigListing,
    DeviceConfig,
    MacAddress,
    StoredConfig,
    WriteCondition,
)


class DeviceConfigRepository(Protocol):
    """Where device configs live. Every method may raise `StorageUnavailable`."""

    async def list_summaries(self) -> ConfigListing:
        """Return the summary of every readable config, sorted by MAC address.

        Entries that are not configs, or configs that cannot be read as a JSON object, are
        left out and reported in `ConfigListing.skipped`; they never make the listing fail.
        While nothing changed, the very same object may be returned again, so a caller may
        keep what it derived from a listing (its encoding) for as long as it gets that object
        back (`is`); a caller must never change one.
        """
        ...

    async def get(self, mac_address: MacAddress) -> StoredConfig:
        """Return the stored config with the document it was read from.

        Raises `DeviceConfigNotFound` when there is none, `CorruptDeviceConfig` when the stored
        file is not a JSON object.
        """
        ...

    async def get_document(self, mac_address: MacAddress) -> ConfigDocument:
        """Return the stored bytes of a config, checked to be a JSON object but not re-encoded.

        Raises `DeviceConfigNotFound` or `CorruptDeviceConfig` as `get` does.
        """
        ...

    async def save(
        self,
        config: DeviceConfig,
        *,
        overwrite: bool = True,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        """Store the config atomically: readers see the old version or the new one, never a mix.

        The condition is checked and the config written as one step, atomic with respect to every
        other write by any process sharing the storage: raises `PreconditionFailed` when it does
        not hold. With `overwrite=False`, raises `DeviceConfigExists` when a config is stored.
        Either way nothing is changed. Returns what was stored.
        """
        ...

    async def update(
        self,
        mac_address: MacAddress,
        change: Callable[[DeviceConfig], DeviceConfig],
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        """Read the stored config, apply `change` and store the result, as one atomic step.

        Raises `DeviceConfigNotFound`, `CorruptDeviceConfig` or `PreconditionFailed` (nothing
        written), or whatever `change` raises. Returns what was stored.
        """
        ...

    async def delete(
        self,
        mac_address: MacAddress,
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> None:
        """Remove the config, atomically with checking the condition.

        Raises `DeviceConfigNotFound` when there is none, `PreconditionFailed` when the
        condition does not hold.
        """
        ...

    async def history(
        self, mac_address: MacAddress, *, limit: int, before: str | None = None
    ) -> ConfigHistory:
        """Return the config's revisions, newest first, at most `limit`, only those older than
        `before` when given. Every write above records one (`origin` says who asked), in the
        order the writes happened, before it returns. Raises `DeviceConfigNotFound` when the
        config has neither a stored file nor a history.
        """
        ...

    async def revision(self, mac_address: MacAddress, revision: str) -> RevisionContent:
        """Return one revision of the config with the bytes it kept. Raises
        `DeviceConfigNotFound` when the config has no such revision."""
        ...

    async def restore(
        self,
        mac_address: MacAddress,
        revision: str,
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        """Store a revision's bytes again, unchanged, as a new version (a deleted config comes
        back), atomically with checking the condition, as `save` does. Raises
        `DeviceConfigNotFound` for no such revision, `RevisionHoldsNoConfig` for one that
        holds no config (a delete), `PreconditionFailed`. Returns what was stored."""
        ...

    async def deleted(self) -> tuple[DeletedConfig, ...]:
        """Every config whose newest revision is a delete (and that no program stored again
        since), newest delete first."""
        ...

    async def check(self) -> None:
        """Return when the storage can be read; raise `StorageUnavailable` saying why not."""
        ...

    async def check_writes(self) -> None:
        """Return when the storage took the latest write (a save, or a probe write made when
        there was none lately); raise `StorageUnavailable` saying why it did not. Cheap to
        call often: the adapter decides how often it actually writes to find out."""
        ...


class Notifier(Protocol):
    """Tells devices that their config changed. Best effort: it must never fail or slow a save."""

    async def config_saved(self, stored: StoredConfig) -> None:
        """Announce a saved config. Returns at once; never raises for a delivery problem."""
        ...


class CheckInLog(Protocol):
    """Where device check-ins are kept, shared by every replica. Telemetry: what a crash loses
    is at most the check-ins of one flush interval. Every async method may raise
    `StorageUnavailable`."""

    def record(self, check_in: CheckIn) -> None:
        """Keep one device download. Called on the download's own path: it must not do I/O,
        take a lock or wait, and never raises."""
        ...

    async def flush(self) -> None:
        """Put what was recorded since the last flush where every replica sees it."""
        ...

    async def records(self) -> Mapping[MacAddress, DeviceRecord]:
        """Every device that has checked in (this replica's unflushed check-ins included).
        While no record changed, the very same mapping is given back (a caller may keep what
        it made of it for as long as that holds)."""
        ...

    async def record_of(self, mac_address: MacAddress) -> DeviceRecord | None: ...

    async def forget(self, mac_address: MacAddress) -> bool:
        """Remove what is kept of the device's check-ins; whether there was anything."""
        ...
