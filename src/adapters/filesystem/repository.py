"""The repository port on a directory: one pretty-printed `<mac>.json` file per device.

The async methods hand the work to worker threads (reads and writes batched, listings on a
thread of their own); the thread-side methods compose the pieces of this package: `files`
(read, atomic write, delete), `locks` (the shared write lock), `listing` (the directory as a
whole) and `codec` (the stored form).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from adapters.filesystem import files
from adapters.filesystem.codec import decode, encode_content
from adapters.filesystem.files import Signature, settled, signature, storage_unavailable
from adapters.filesystem.history import (
    DEFAULT_MAX_AGE_DAYS,
    DEFAULT_MAX_REVISIONS,
    HistoryStats,
    Prepared,
    RevisionLog,
)
from adapters.filesystem.listing import DirectoryListing
from adapters.filesystem.locks import WriteLocks
from adapters.filesystem.problems import FileProblem
from adapters.filesystem.state_log import StateLog
from adapters.filesystem.threads import BatchedThreads
from adapters.filesystem.writes import DEFAULT_WRITE_PROBE_SECONDS, WriteWatch
from domain.errors import (
    CorruptDeviceConfig,
    DeviceConfigNotFound,
    StorageUnavailable,
)
from domain.history import (
    UNKNOWN_ORIGIN,
    ConfigHistory,
    DeletedConfig,
    Operation,
    RevisionContent,
    WriteOrigin,
    holds_no_config,
)
from domain.model import (
    ANY_STATE,
    ConfigDocument,
    ConfigListing,
    DeviceConfig,
    DeviceConfigSummary,
    JsonObject,
    MacAddress,
    StoredConfig,
    WriteCondition,
)
from domain.ports import DeviceConfigRepository

logger = logging.getLogger("adapters.filesystem")

DEFAULT_STALE_TEMP_SECONDS = 15 * 60
# Pages of history kept for a page asked for again (an admin page refreshing): the newest few;
# least recently used first out, so a sweep through every config's history cannot grow memory.
KEPT_HISTORIES = 64
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024
# Longest a write waits for a config's lock. A peer that holds it longer is stuck (paused,
# hung on the share): the write is refused (503, Retry-After) rather than applied much later,
# long after its client gave up, and its worker thread is free for other configs' writes.
DEFAULT_LOCK_TIMEOUT_SECONDS = 5.0
# Writes asked for together run one after another on one thread, up to this many; a larger
# burst spreads over more threads. Run together, a burst's fsyncs cost a third less CPU than on
# a thread each (fewer wake-ups, no GIL contention between writers); bounded, because on CephFS
# an fsync is a network round trip of milliseconds and no write should wait behind many others.
WRITE_BATCH = 4


class FilesystemDeviceConfigRepository(DeviceConfigRepository):
    """Device configs as files in one directory, shared safely by any number of processes.

    Every write goes to a uniquely named hidden temporary file in the same directory, which is
    fsynced and then renamed over the target (or hard-linked, for create-only saves), so a
    reader sees the old file or the new one and never a partial one. Every call looks at the
    directory or file itself; what is remembered between calls (listing summaries, validated
    documents) is reused only while the stat signature is unchanged and settled, so
    changes by other replicas or tools show at once.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        stale_temp_seconds: float = DEFAULT_STALE_TEMP_SECONDS,
        lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
        write_probe_seconds: float = DEFAULT_WRITE_PROBE_SECONDS,
        history_max_revisions: int = DEFAULT_MAX_REVISIONS,
        history_max_age_days: float = DEFAULT_MAX_AGE_DAYS,
        history: bool = True,
    ) -> None:
        self._directory = directory
        self._directory_name = str(directory)
        self._max_file_bytes = max_file_bytes
        self._locks = WriteLocks(directory, lock_timeout_seconds)
        self._listing = DirectoryListing(directory, self._summary, stale_temp_seconds)
        self._history = RevisionLog(
            directory,
            max_revisions=history_max_revisions,
            max_age_days=history_max_age_days,
            enabled=history,
        )
        self._measuring: threading.Thread | None = None
        # Pages of history asked for lately, with what they were read from (`_history_of`).
        self._histories: collections.OrderedDict[
            tuple[MacAddress, int, str | None],
            tuple[tuple[Signature | None, str | None], ConfigHistory],
        ] = collections.OrderedDict()
        self._histories_lock = threading.Lock()
        # Reads and stats are short and, on a busy replica, many at once: batched. Writes are
        # batched too, on threads of their own so that no read waits behind an fsync, and at
        # most WRITE_BATCH at a time (see there). Listings keep a thread hop each.
        self._reads = BatchedThreads(name="config-reads")
        self._writes = BatchedThreads(name="config-writes", max_batch=WRITE_BATCH)
        self._write_watch = WriteWatch(directory, self._writes.run, write_probe_seconds)
        # Configs whose file, at this signature, was checked to hold a JSON object: a device
        # fetch of one costs a read, not a parse. Forgotten when the config is deleted, found
        # missing or missing from a listing, so it holds at most one entry per stored config.
        self._valid_documents: dict[MacAddress, Signature] = {}
        self._check_task: asyncio.Future[None] | None = None
        self._check_state = StateLog(
            directory,
            "storage check of %s failed: %s%s",
            "the configs directory %s is usable again",
        )
        self._listing_lock = asyncio.Lock()
        self._listings_started = 0
        self._latest_listing: tuple[int, ConfigListing | None] = (0, None)

    @property
    def directory(self) -> Path:
        return self._directory

    def create_directory(self) -> None:
        """Create the configs directory if missing (used at start for the default location)."""
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_unavailable(exc, f"creating {self._directory}") from exc

    def sweep_stale_temp_files(self) -> int:
        return self._listing.sweep_stale_temp_files()

    async def list_summaries(self) -> ConfigListing:
        """One listing runs at a time; callers that arrive meanwhile share the next one, which
        starts after they arrived, so none of them can miss a change made before it asked."""
        arrived_after = self._listings_started
        async with self._listing_lock:
            finished_seq, finished = self._latest_listing
            if finished is not None and finished_seq > arrived_after:
                return finished
            self._listings_started += 1
            seq = self._listings_started
            listing = await asyncio.to_thread(self._list)
            self._latest_listing = (seq, listing)
            return listing

    async def get(self, mac_address: MacAddress) -> StoredConfig:
        return await self._reads.run(self._get, mac_address)

    async def get_document(self, mac_address: MacAddress) -> ConfigDocument:
        return await self._reads.run(self._get_document, mac_address)

    async def save(
        self,
        config: DeviceConfig,
        *,
        overwrite: bool = True,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        document = await self._writes.run(self._save, config, overwrite, condition, origin)
        return StoredConfig(config, document)

    async def update(
        self,
        mac_address: MacAddress,
        change: Callable[[DeviceConfig], DeviceConfig],
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        return await self._writes.run(self._update, mac_address, change, condition, origin)

    async def delete(
        self,
        mac_address: MacAddress,
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> None:
        await self._writes.run(self._delete, mac_address, condition, origin)

    async def history(
        self, mac_address: MacAddress, *, limit: int, before: str | None = None
    ) -> ConfigHistory:
        return await self._reads.run(self._history_of, mac_address, limit, before)

    async def revision(self, mac_address: MacAddress, revision: str) -> RevisionContent:
        return await self._reads.run(self._revision, mac_address, revision)

    async def restore(
        self,
        mac_address: MacAddress,
        revision: str,
        *,
        condition: WriteCondition = ANY_STATE,
        origin: WriteOrigin = UNKNOWN_ORIGIN,
    ) -> StoredConfig:
        return await self._writes.run(self._restore, mac_address, revision, condition, origin)

    async def deleted(self) -> tuple[DeletedConfig, ...]:
        # A thread of its own, as a listing: a survey may take a while on a first call.
        return await asyncio.to_thread(self._history.deleted, self._stored)

    def history_stats(self) -> HistoryStats:
        """What history recorded and pruned here, and its size on disk, as last measured; a
        measure older than a minute starts a new one in the background (one at a time), so a
        scrape never waits for a walk of the share."""
        # Read before a measure starts: what this scrape shows never depends on how fast
        # that measure runs.
        stats = self._history.stats()
        idle = self._measuring is None or not self._measuring.is_alive()
        if self._history.enabled and self._history.measure_due() and idle:
            self._measuring = threading.Thread(
                target=self._measure, name="history-measure", daemon=True
            )
            self._measuring.start()
        return stats

    def _measure(self) -> None:
        # Logged where it happened; the gauge keeps its last value.
        with contextlib.suppress(StorageUnavailable):
            self._history.measure()

    async def check_writes(self) -> None:
        await self._write_watch.check()

    async def check(self) -> None:
        # One check at a time: on a hung filesystem each check blocks a worker thread, and
        # probes arriving every few seconds must not use up the pool that requests need.
        if self._check_task is None or self._check_task.done():
            self._check_task = self._reads.run(self._check)
        try:
            await asyncio.shield(self._check_task)
        except StorageUnavailable as failure:
            self._check_state.seen(failure)
            raise
        self._check_state.seen(None)

    # The methods below run in a worker thread.

    def _path(self, mac_address: MacAddress) -> files.ConfigPath:
        return os.path.join(self._directory_name, f"{mac_address}.json")

    def _check(self) -> None:
        files.check_directory(self._directory)
        self._locks.check()

    def _read(self, mac_address: MacAddress) -> tuple[bytes, os.stat_result]:
        try:
            return files.read(self._path(mac_address), mac_address, self._max_file_bytes)
        except DeviceConfigNotFound:
            self._valid_documents.pop(mac_address, None)
            self._check()  # A missing directory is a storage failure, not a missing config.
            raise
        except CorruptDeviceConfig as exc:
            if exc.problem is FileProblem.UNREADABLE:
                self._check()  # A directory we may not read is a storage failure; a file not.
            raise

    def _load(self, mac_address: MacAddress) -> tuple[ConfigDocument, JsonObject, Signature]:
        body, info = self._read(mac_address)
        content = decode(mac_address, body)
        return ConfigDocument(mac_address, body, info.st_mtime), content, signature(info)

    def _get(self, mac_address: MacAddress) -> StoredConfig:
        document, content, _ = self._load(mac_address)
        return StoredConfig(DeviceConfig(mac_address, content), document)

    def _get_document(self, mac_address: MacAddress) -> ConfigDocument:
        """The stored bytes, checked to be a JSON object; a file whose (settled) signature was
        checked before is not parsed again, so a device fetch costs a read, not a parse."""
        body, info = self._read(mac_address)
        current = signature(info)
        if self._valid_documents.get(mac_address) != current or not settled(info, time.time_ns()):
            decode(mac_address, body)
            self._valid_documents[mac_address] = current
        return ConfigDocument(mac_address, body, info.st_mtime)

    def _summary(self, mac_address: MacAddress) -> tuple[DeviceConfigSummary, Signature]:
        document, content, read_signature = self._load(mac_address)
        summary = DeviceConfig(mac_address, content).summary()
        return attrs.evolve(summary, etag=document.revision), read_signature

    def _list(self) -> ConfigListing:
        listing = self._listing.summaries()
        # Configs deleted behind our back (other replicas, other tools) are forgotten here.
        for mac_address in [
            m for m in self._valid_documents if not self._listing.holds(f"{m}.json")
        ]:
            self._valid_documents.pop(mac_address, None)
        return listing

    def _current(self, mac_address: MacAddress) -> ConfigDocument | None:
        """The stored bytes for a condition to judge (unparsed: a corrupt file still has a
        revision), or None when there is no config."""
        try:
            body, info = self._read(mac_address)
        except DeviceConfigNotFound:
            return None
        return ConfigDocument(mac_address, body, info.st_mtime)

    def _save(
        self,
        config: DeviceConfig,
        overwrite: bool,
        condition: WriteCondition,
        origin: WriteOrigin,
    ) -> ConfigDocument:
        # Encoded here, off the event loop: a large config takes milliseconds to format.
        body = encode_content(config, self._max_file_bytes)
        mac_address = config.mac_address
        with self._writing(mac_address):
            current = self._judged(mac_address, condition)
            return self._write(mac_address, body, overwrite, Operation.SAVE, origin, current)

    def _restore(
        self,
        mac_address: MacAddress,
        revision: str,
        condition: WriteCondition,
        origin: WriteOrigin,
    ) -> StoredConfig:
        with self._writing(mac_address):
            # The revision first: naming one that does not exist, or holds no config, is the
            # request's mistake whatever the condition says.
            found = self._revision(mac_address, revision)
            if found.content is None:
                raise holds_no_config(mac_address, found, "restore")
            current = self._judged(mac_address, condition)
            written = self._write(mac_address, found.body, True, Operation.RESTORE, origin, current)
            return StoredConfig(DeviceConfig(mac_address, found.content), written)

    def _stored(self, name: str) -> bool:
        return os.path.lexists(os.path.join(self._directory_name, f"{name}.json"))

    def _update(
        self,
        mac_address: MacAddress,
        change: Callable[[DeviceConfig], DeviceConfig],
        condition: WriteCondition,
        origin: WriteOrigin,
    ) -> StoredConfig:
        with self._writing(mac_address):
            document, content, _ = self._load(mac_address)
            condition.check(mac_address, document)
            config = change(DeviceConfig(mac_address, content))
            body = encode_content(config, self._max_file_bytes)
            written = self._write(mac_address, body, True, Operation.PATCH, origin, document)
            return StoredConfig(config, written)

    @contextmanager
    def _writing(self, mac_address: MacAddress) -> Iterator[None]:
        """Hold the config's write lock; how the write inside ends tells the write watch."""
        with self._write_watch.watching(), self._locks.held(mac_address):
            yield

    def _write(
        self,
        mac_address: MacAddress,
        body: bytes,
        overwrite: bool,
        operation: Operation,
        origin: WriteOrigin,
        current: ConfigDocument | None,
    ) -> ConfigDocument:
        """Under the config's lock: history brought up to date with `current` (what is
        stored), the new revision prepared (a full disk fails here, nothing changed), the
        config written, the revision committed (history.py)."""
        names = self._history.catch_up(mac_address, current)
        new = ConfigDocument(mac_address, body, time.time())
        prepared = self._history.prepare(mac_address, operation, new, origin, names=names)
        try:
            modified_at = files.write_atomically(
                self._path(mac_address), mac_address, body, overwrite
            )
        except BaseException:
            self._history.abandon(prepared)
            raise
        self._commit(prepared)
        return ConfigDocument(mac_address, body, modified_at)

    def _commit(self, prepared: Prepared | None) -> None:
        """After the config's write: a commit that storage refuses (logged where it failed)
        does not fail the write, which is stored. Its revision stays prepared, fsynced, and
        the config's next write or history read commits it (`catch_up`)."""
        with contextlib.suppress(StorageUnavailable):
            self._history.commit(prepared)

    def _delete(
        self, mac_address: MacAddress, condition: WriteCondition, origin: WriteOrigin
    ) -> None:
        with self._writing(mac_address):
            current = self._judged(mac_address, condition)
            names = self._history.catch_up(mac_address, current)
            prepared = None
            if current is not None:
                prepared = self._history.prepare(
                    mac_address, Operation.DELETE, None, origin, names=names, deleted=current
                )
            try:
                files.unlink(self._path(mac_address), mac_address)
            except DeviceConfigNotFound:
                self._check()
                raise
            except BaseException:
                if prepared is not None:
                    self._history.abandon(prepared)
                raise
            finally:
                self._valid_documents.pop(mac_address, None)
            self._commit(prepared)

    def _judged(self, mac_address: MacAddress, condition: WriteCondition) -> ConfigDocument | None:
        """What is stored, read once per write: the condition judges it (a symlink or other
        non-file fails the write, as a read would), then history keeps it."""
        if condition == ANY_STATE:
            return self._recordable(mac_address)
        current = self._current(mac_address)
        condition.check(mac_address, current)
        return current

    def _recordable(self, mac_address: MacAddress) -> ConfigDocument | None:
        """What is stored now, as history keeps it: the bytes of any regular file, valid or
        not (replacing a corrupt config keeps it); None for no file, or for a symlink or other
        non-file, whose bytes are not ours to keep."""
        try:
            return self._current(mac_address)
        except CorruptDeviceConfig:
            return None

    def _revision(self, mac_address: MacAddress, revision: str) -> RevisionContent:
        found = (
            self._history.content(mac_address, revision, self._max_file_bytes)
            if self._history.enabled
            else None
        )
        if found is None:
            self._check()  # A missing directory is a storage failure, not a missing revision.
            raise DeviceConfigNotFound(str(mac_address))
        return found

    def _history_of(
        self, mac_address: MacAddress, limit: int, before: str | None, caught_up: bool = False
    ) -> ConfigHistory:
        """A page of the history; the same object as last time while the history directory's
        signature (settled: any revision added or removed changes it) and the stored bytes are
        what they were, so a page asked for again costs a stat and a read, not a read of every
        revision."""
        key = (mac_address, limit, before)
        stored = self._recordable(mac_address)
        state = (self._history.signature(mac_address), stored.revision if stored else None)
        with self._histories_lock:
            kept = self._histories.get(key)
            if kept is not None and kept[0] == state and state[0] is not None:
                self._histories.move_to_end(key)
                return kept[1]
        history = self._read_history(mac_address, limit, before, caught_up)
        if not caught_up:
            with self._histories_lock:
                self._histories[key] = (state, history)
                self._histories.move_to_end(key)
                while len(self._histories) > KEPT_HISTORIES:
                    self._histories.popitem(last=False)
        return history

    def _read_history(
        self, mac_address: MacAddress, limit: int, before: str | None, caught_up: bool
    ) -> ConfigHistory:
        revisions = self._history.revisions(mac_address, limit, before)
        # A first page starts with the newest: no second look at the directory for it.
        newest = revisions[0] if before is None and revisions else None
        if newest is None:
            newest = self._history.newest(mac_address)
        current = self._recordable(mac_address)
        if newest is None and current is None:
            self._check()  # A missing directory is a storage failure, not a missing config.
            raise DeviceConfigNotFound(str(mac_address))
        is_current = (
            newest is not None
            and current is not None
            and newest.operation is not Operation.DELETE
            and newest.etag == current.revision
        )
        if not is_current and not caught_up and self._crashed_write_left(mac_address):
            return self._read_history(mac_address, limit, before, caught_up=True)
        return ConfigHistory(revisions, newest.revision if is_current and newest else None)

    def _crashed_write_left(self, mac_address: MacAddress) -> bool:
        """Whether a write that crashed after storing its config left its revision prepared
        (the config's next write would commit it): committed now, under the lock, so history
        never shows a config that disagrees with its newest revision. Not done where the lock
        cannot be had or storage refuses the commit: the answer is then as the share is."""
        if not self._history.prepared_left(mac_address):
            return False
        try:
            with self._locks.held(mac_address):
                self._history.catch_up(mac_address, self._recordable(mac_address), external=False)
        except StorageUnavailable:
            return False
        return True
