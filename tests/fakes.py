"""Hand-written fakes behind the domain's ports."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import attrs

from domain.errors import (
    DeviceConfigExists,
    DeviceConfigNotFound,
    RevisionHoldsNoConfig,
    StorageFailure,
    StorageUnavailable,
)
from domain.history import (
    UNKNOWN_ORIGIN,
    ConfigHistory,
    DeletedConfig,
    Operation,
    Revision,
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
from domain.ports import DeviceConfigRepository, Notifier


class InMemoryDeviceConfigRepository(DeviceConfigRepository):
    """A dict behind the repository port. Set `failure` to make every call fail like storage."""

    def __init__(self, *configs: DeviceConfig) -> None:
        self.configs: dict[MacAddress, StoredConfig] = {
            c.mac_address: self._stored(c) for c in configs
        }
        self.failure: StorageFailure | None = None
        # Set to make only writes fail (a full disk): reads go on.
        self.write_failure: StorageFailure | None = None
        self.revisions: dict[MacAddress, list[Revision]] = {}
        self.bodies: dict[tuple[MacAddress, str], bytes] = {}

    @staticmethod
    def _stored(config: DeviceConfig) -> StoredConfig:
        # Written as the real adapter stores it, but by the standard library: the fake does not
        # lean on the adapter it stands in for.
        body = json.dumps(config.content, indent=2, ensure_ascii=False).encode() + b"\n"
        document = ConfigDocument(config.mac_address, body, time.time())
        return StoredConfig(config, document)

    def _available(self) -> None:
        if self.failure is not None:
            raise StorageUnavailable(self.failure)

    def _document(self, mac_address: MacAddress) -> ConfigDocument | None:
        stored = self.configs.get(mac_address)
        return None if stored is None else stored.document

    async def list_summaries(self) -> ConfigListing:
        self._available()
        return ConfigListing(tuple(s.config.summary() for _, s in sorted(self.configs.items())))

    async def get(self, mac_address: MacAddress) -> StoredConfig:
        self._available()
        try:
            return self.configs[mac_address]
        except KeyError:
            raise DeviceConfigNotFound(str(mac_address)) from None

    async def get_document(self, mac_address: MacAddress) -> ConfigDocument:
        return (await self.get(mac_address)).document

    async def save(
        self,
        config: DeviceConfig,
        *,
        overwrite: bool = True,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        self._available()
        condition.check(config.mac_address, self._document(config.mac_address))
        if not overwrite and config.mac_address in self.configs:
            raise DeviceConfigExists(str(config.mac_address))
        stored = self.configs[config.mac_address] = self._stored(config)
        self._record(config.mac_address, Operation.SAVE, stored.document, origin)
        return stored

    async def update(
        self,
        mac_address: MacAddress,
        change: Callable[[DeviceConfig], DeviceConfig],
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        current = await self.get(mac_address)
        condition.check(mac_address, current.document)
        stored = self.configs[mac_address] = self._stored(change(current.config))
        self._record(mac_address, Operation.PATCH, stored.document, origin)
        return stored

    async def delete(
        self,
        mac_address: MacAddress,
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> None:
        self._available()
        condition.check(mac_address, self._document(mac_address))
        removed = self.configs.pop(mac_address, None)
        if removed is None:
            raise DeviceConfigNotFound(str(mac_address))
        self._record(mac_address, Operation.DELETE, removed.document, origin, size=0)

    async def history(
        self, mac_address: MacAddress, *, limit: int, before: str | None = None
    ) -> ConfigHistory:
        self._available()
        kept = self.revisions.get(mac_address, [])
        if not kept and mac_address not in self.configs:
            raise DeviceConfigNotFound(str(mac_address))
        older = [r for r in reversed(kept) if before is None or r.revision < before]
        newest = kept[-1] if kept else None
        stored = self.configs.get(mac_address)
        current = (
            newest.revision
            if newest is not None
            and stored is not None
            and newest.operation is not Operation.DELETE
            and newest.etag == stored.document.revision
            else None
        )
        return ConfigHistory(tuple(older[:limit]), current)

    async def revision(self, mac_address: MacAddress, revision: str) -> RevisionContent:
        self._available()
        for kept in self.revisions.get(mac_address, []):
            if kept.revision == revision:
                body = self.bodies[(mac_address, revision)]
                return RevisionContent(kept, body, json.loads(body) if body else None)
        raise DeviceConfigNotFound(str(mac_address))

    async def restore(
        self,
        mac_address: MacAddress,
        revision: str,
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        found = await self.revision(mac_address, revision)
        if found.content is None:
            raise RevisionHoldsNoConfig(str(mac_address), revision, "is a delete", "")
        condition.check(mac_address, self._document(mac_address))
        document = ConfigDocument(mac_address, found.body, time.time())
        stored = self.configs[mac_address] = StoredConfig(
            DeviceConfig(mac_address, found.content), document
        )
        self._record(mac_address, Operation.RESTORE, document, origin)
        return stored

    async def deleted(self) -> tuple[DeletedConfig, ...]:
        self._available()
        found = [
            DeletedConfig(mac_address, kept[-1].saved_at, kept[-1].revision)
            for mac_address, kept in self.revisions.items()
            if kept[-1].operation is Operation.DELETE and mac_address not in self.configs
        ]
        return tuple(sorted(found, key=lambda item: item.deleted_at, reverse=True))

    def _record(
        self,
        mac_address: MacAddress,
        operation: Operation,
        document: ConfigDocument,
        origin: WriteOrigin,
        size: int | None = None,
    ) -> None:
        kept = self.revisions.setdefault(mac_address, [])
        name = f"{len(kept) + 1:012d}"
        self.bodies[(mac_address, name)] = document.body if size is None else b""
        kept.append(
            Revision(
                revision=name,
                operation=operation,
                saved_at=time.time(),
                etag=document.revision,
                size=len(document.body) if size is None else size,
                origin=origin,
            )
        )

    async def check(self) -> None:
        self._available()

    async def check_writes(self) -> None:
        self._available()
        if self.write_failure is not None:
            raise StorageUnavailable(self.write_failure)


class RecordingNotifier(Notifier):
    """Remembers every config it was told about."""

    def __init__(self) -> None:
        self.saved: list[StoredConfig] = []
        self.running = False

    async def config_saved(self, stored: StoredConfig) -> None:
        self.saved.append(stored)

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    def stats(self) -> RecordedCounts:
        return RecordedCounts(connected=self.running, published=len(self.saved))


@attrs.frozen
class RecordedCounts:
    """The four counts the metrics read from a notifier that counts."""

    connected: bool
    published: int
    failed: int = 0
    dropped: int = 0
