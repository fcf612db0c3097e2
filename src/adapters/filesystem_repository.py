"""Filesystem adapter of the repository port: one pretty-printed `<mac>.json` file per device."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import re
import stat
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import msgspec

from adapters.batched_threads import BatchedThreads
from domain.errors import (
    CorruptDeviceConfig,
    DeviceConfigExists,
    DeviceConfigNotFound,
    DeviceConfigTooLarge,
    FileProblem,
    InvalidDeviceConfig,
    StorageFailure,
    StorageUnavailable,
)
from domain.model import (
    ANY_STATE,
    MAX_NESTING,
    ConfigDocument,
    ConfigListing,
    DeviceConfig,
    DeviceConfigSummary,
    JsonObject,
    MacAddress,
    SkippedFile,
    StoredConfig,
    WriteCondition,
    is_utf8,
    nested_deeper_than,
)
from domain.ports import DeviceConfigRepository

logger = logging.getLogger(__name__)

CONFIG_NAME = re.compile(r"(?P<mac>[0-9a-f]{2}(?:-[0-9a-f]{2}){5})\.json")
TEMP_SUFFIX = ".tmp"
# What mkstemp makes of prefix ".<mac>.json." and TEMP_SUFFIX.
TEMP_NAME = re.compile(r"\.[0-9a-f]{2}(?:-[0-9a-f]{2}){5}\.json\.[A-Za-z0-9_]+\.tmp")
DEFAULT_STALE_TEMP_SECONDS = 15 * 60
# Hidden, so listings ignore it; in the configs directory, so all replicas lock the same files.
LOCK_DIRECTORY = ".locks"
# Writers lock one of a fixed set of lock files, picked from the MAC (see lock_file_name).
LOCK_STRIPES = 256
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
# Written files are for devices and other tools to read; mkstemp's 0600 would hide them.
FILE_MODE = 0o644

_FAILURES_BY_ERRNO = {
    errno.ENOENT: StorageFailure.DIRECTORY_MISSING,
    errno.ENOTDIR: StorageFailure.NOT_A_DIRECTORY,
    errno.EACCES: StorageFailure.PERMISSION_DENIED,
    errno.EPERM: StorageFailure.PERMISSION_DENIED,
    errno.EROFS: StorageFailure.READ_ONLY,
    errno.ENOSPC: StorageFailure.DISK_FULL,
    errno.EDQUOT: StorageFailure.DISK_FULL,
}


def encode_content(config: DeviceConfig, limit: int) -> bytes:
    """Serialise a config the way it is stored: key order kept, 2-space indent, final newline.
    Refused when the stored form would be over `limit` bytes, the same limit reads have: the
    indent grows with the depth, so a small body can make a file too large to serve."""
    if nested_deeper_than(config.content):
        raise InvalidDeviceConfig(f"The config is nested deeper than {MAX_NESTING} levels.")
    try:
        compact = msgspec.json.encode(config.content)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidDeviceConfig(f"The config cannot be written as JSON: {exc}.") from exc
    body = msgspec.json.format(compact, indent=2) + b"\n"
    if len(body) > limit:
        raise DeviceConfigTooLarge(str(config.mac_address), len(body), limit)
    return body


# What identifies a version of a file without reading it: mode, inode, size, and the change
# times in nanoseconds. A writer that renames a new file in changes the inode; one that writes
# in place changes size or mtime, and ctime in any case (even if it resets mtime afterwards).
# Packed into 40 bytes: a tuple of five ints costs six objects and about 240 bytes, and one is
# kept per config (3 MB less at 20,000).
Signature = bytes
_SIGNATURE = struct.Struct("<QQQQQ")
# Timestamps are taken modulo 2**64: any time a filesystem can hold packs (ext4 goes to 2446,
# past the nanoseconds a signed 64-bit field holds), and only equality matters here.
_U64 = (1 << 64) - 1
NO_SIGNATURE: Signature = bytes(_SIGNATURE.size)
# Timestamps come from a coarse clock (a few milliseconds on Linux, the writing client's clock on
# CephFS): two edits in one tick can share a signature. Like git's "racily clean" rule, an entry
# changed this recently is read again rather than trusted.
SETTLED_NS = 2_000_000_000
BAD_NAME = "the name is not <mac>.json"
SYMLINK = "it is a symbolic link, which is never followed"
NOT_A_FILE = "it is not a regular file"
UNREADABLE = "the file may not be read (permission denied)"


def _signature(info: os.stat_result) -> Signature:
    return _SIGNATURE.pack(
        info.st_mode, info.st_ino, info.st_size, info.st_mtime_ns & _U64, info.st_ctime_ns & _U64
    )


def _settled(info: os.stat_result, now_ns: int) -> bool:
    return max(info.st_mtime_ns, info.st_ctime_ns) < now_ns - SETTLED_NS


def lock_file_name(mac_address: MacAddress) -> str:
    """The lock file a write to this config takes: one of LOCK_STRIPES, by a CRC-32 of the MAC.

    A fixed set rather than one file per config: the directory of locks stays small whatever
    the fleet did, and a device's first save does not pay for creating one. Two configs in one
    stripe only wait for each other's write. Every replica must pick the same file for a MAC,
    so this function and LOCK_STRIPES are part of the on-disk format (a test pins them).
    """
    return f"stripe-{zlib.crc32(mac_address.value.encode()) % LOCK_STRIPES:03d}.lock"


def _read_all(fd: int, expected: int, limit: int) -> bytes:
    """Up to `limit` bytes, to the end of the file: plain reads, without the buffered file
    object `open` would build around them (a tenth of a device fetch's own work). The first
    read asks for one byte more than `expected` (the size from fstat), so it usually sees the
    end at once; a file that grew meanwhile is read on in 64 KiB steps."""
    chunks = []
    size = min(expected + 1, limit)
    while limit > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        limit -= len(chunk)
        size = min(65536, limit)
    return b"".join(chunks)


def _lock_before(fd: int, deadline: float) -> None:
    """Take an exclusive `flock` on `fd`, waiting until `deadline` (monotonic) at most. Polled:
    `flock` itself has no timeout, and a blocked call could not be given up. The first try
    almost always succeeds, so an uncontended write pays one system call as before."""
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                logger.warning("a config's write lock stayed held past the deadline")
                raise StorageUnavailable(StorageFailure.LOCKED) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def _write_all(fd: int, body: bytes) -> None:
    view = memoryview(body)
    while view:
        view = view[os.write(fd, view) :]


def _decode(mac_address: MacAddress, body: bytes) -> JsonObject:
    """Return the JSON object in stored bytes; raise `CorruptDeviceConfig` saying why not."""
    if not body.strip():
        raise _corrupt(mac_address, FileProblem.EMPTY, "the file is empty")
    try:
        value = msgspec.json.decode(body)
    except RecursionError:
        raise _corrupt(mac_address, FileProblem.TOO_DEEP, _TOO_DEEP) from None
    except (UnicodeDecodeError, msgspec.DecodeError) as exc:
        # msgspec before 0.23 raised UnicodeDecodeError for invalid UTF-8, later versions a
        # DecodeError like any syntax error: ask the bytes, so every version tells them apart.
        if not is_utf8(body):
            raise _corrupt(
                mac_address, FileProblem.NOT_UTF8, "the file is not valid UTF-8"
            ) from None
        raise _corrupt(
            mac_address, FileProblem.INVALID_JSON, f"the file is not valid JSON ({exc})"
        ) from None
    if nested_deeper_than(value):
        raise _corrupt(mac_address, FileProblem.TOO_DEEP, _TOO_DEEP)
    if not isinstance(value, dict):
        raise _corrupt(
            mac_address,
            FileProblem.NOT_AN_OBJECT,
            f"the file holds a JSON {_json_type_name(value)}, not an object",
        )
    return value


_TOO_DEEP = f"the JSON is nested deeper than {MAX_NESTING} levels"


def _corrupt(mac_address: MacAddress, problem: FileProblem, reason: str) -> CorruptDeviceConfig:
    return CorruptDeviceConfig(str(mac_address), problem, reason)


def _json_type_name(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _bad_lock_directory() -> StorageUnavailable:
    logger.error(
        "%s in the configs directory is not a directory; writes are refused", LOCK_DIRECTORY
    )
    return StorageUnavailable(StorageFailure.BAD_LOCK_DIRECTORY)


def _storage_unavailable(exc: OSError, action: str) -> StorageUnavailable:
    failure = _FAILURES_BY_ERRNO.get(exc.errno or 0, StorageFailure.IO_ERROR)
    logger.error("storage failure while %s: %s", action, exc)
    return StorageUnavailable(failure)


class FilesystemDeviceConfigRepository(DeviceConfigRepository):
    """Device configs as files in one directory, shared safely by any number of processes.

    Every write goes to a uniquely named hidden temporary file in the same directory, which is
    fsynced and then renamed over the target (or hard-linked, for create-only saves), so a
    reader sees the old file or the new one and never a partial one. Every call looks at the
    directory or file itself; what is remembered between calls (listing summaries, validated
    documents, the count) is reused only while the stat signature is unchanged and settled, so
    changes by other replicas or tools show at once.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        stale_temp_seconds: float = DEFAULT_STALE_TEMP_SECONDS,
        lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self._directory = directory
        self._lock_timeout_seconds = lock_timeout_seconds
        # Reads and stats are short and, on a busy replica, many at once: batched. Writes are
        # batched too, on threads of their own so that no read waits behind an fsync, and at
        # most WRITE_BATCH at a time (see there). Listings keep a thread hop each.
        self._reads = BatchedThreads(name="config-reads")
        self._writes = BatchedThreads(name="config-writes", max_batch=WRITE_BATCH)
        self._max_file_bytes = max_file_bytes
        self._stale_temp_seconds = stale_temp_seconds
        self._warned: dict[str, str] = {}
        self._check_task: asyncio.Future[None] | None = None
        self._listing_cache: dict[str, tuple[Signature, DeviceConfigSummary | SkippedFile]] = {}
        self._last_listing: ConfigListing | None = None
        self._count_cache: tuple[Signature, int] = (NO_SIGNATURE, 0)
        self._valid_documents: dict[MacAddress, Signature] = {}
        self._listing_lock = asyncio.Lock()
        self._listings_started = 0
        self._latest_listing: tuple[int, ConfigListing | None] = (0, None)
        self._warned_lock = threading.Lock()

    @property
    def directory(self) -> Path:
        return self._directory

    def create_directory(self) -> None:
        """Create the configs directory if missing (used at start for the default location)."""
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _storage_unavailable(exc, f"creating {self._directory}") from exc

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
    ) -> StoredConfig:
        document = await self._writes.run(self._save, config, overwrite, condition)
        return StoredConfig(config, document)

    async def update(
        self,
        mac_address: MacAddress,
        change: Callable[[DeviceConfig], DeviceConfig],
        *,
        condition: WriteCondition = ANY_STATE,
    ) -> StoredConfig:
        return await self._writes.run(self._update, mac_address, change, condition)

    async def delete(
        self, mac_address: MacAddress, *, condition: WriteCondition = ANY_STATE
    ) -> None:
        await self._writes.run(self._delete, mac_address, condition)

    async def count(self) -> int:
        return await self._reads.run(self._count)

    async def check(self) -> None:
        # One check at a time: on a hung filesystem each check blocks a worker thread, and
        # probes arriving every few seconds must not use up the pool that requests need.
        if self._check_task is None or self._check_task.done():
            self._check_task = self._reads.run(self._check)
        await asyncio.shield(self._check_task)

    # The methods below run in a worker thread.

    def _path(self, mac_address: MacAddress) -> Path:
        return self._directory / f"{mac_address}.json"

    def _get(self, mac_address: MacAddress) -> StoredConfig:
        document, content = self._load(mac_address)
        return StoredConfig(DeviceConfig(mac_address, content), document)

    def _get_document(self, mac_address: MacAddress) -> ConfigDocument:
        """The stored bytes, checked to be a JSON object; a file whose (settled) signature was
        checked before is not parsed again, so a device fetch costs a read, not a parse."""
        body, info = self._read(mac_address)
        signature = _signature(info)
        if self._valid_documents.get(mac_address) != signature or not _settled(
            info, time.time_ns()
        ):
            _decode(mac_address, body)
            self._valid_documents[mac_address] = signature
        return ConfigDocument(mac_address, body, info.st_mtime)

    def _load(self, mac_address: MacAddress) -> tuple[ConfigDocument, JsonObject]:
        document, content, _ = self._load_with_signature(mac_address)
        return document, content

    def _load_with_signature(
        self, mac_address: MacAddress
    ) -> tuple[ConfigDocument, JsonObject, Signature]:
        body, info = self._read(mac_address)
        content = _decode(mac_address, body)
        return ConfigDocument(mac_address, body, info.st_mtime), content, _signature(info)

    def _read(self, mac_address: MacAddress) -> tuple[bytes, os.stat_result]:
        path = self._path(mac_address)
        try:
            # O_NOFOLLOW: a symlink could point anywhere on the host; it is never served.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            self._valid_documents.pop(mac_address, None)
            self._check()
            raise DeviceConfigNotFound(str(mac_address)) from None
        except PermissionError:
            self._check()  # A directory we may not read is a storage failure; one file is not.
            raise _corrupt(mac_address, FileProblem.UNREADABLE, UNREADABLE) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _corrupt(mac_address, FileProblem.SYMLINK, SYMLINK) from None
            raise _storage_unavailable(exc, f"opening {path}") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _corrupt(mac_address, FileProblem.NOT_A_FILE, NOT_A_FILE)
            if info.st_size > self._max_file_bytes:
                raise self._too_large(mac_address)
            body = _read_all(fd, info.st_size, self._max_file_bytes + 1)
        except OSError as exc:
            raise _storage_unavailable(exc, f"reading {path}") from exc
        finally:
            os.close(fd)
        if len(body) > self._max_file_bytes:
            raise self._too_large(mac_address)
        return body, info

    def _too_large(self, mac_address: MacAddress) -> CorruptDeviceConfig:
        limit = self._max_file_bytes
        return _corrupt(
            mac_address, FileProblem.TOO_LARGE, f"the file is over the {limit} byte limit"
        )

    def _list(self) -> ConfigListing:
        """One directory scan and one `lstat` per entry; only entries whose stat signature
        changed since the last listing (or changed too recently to trust) are read again."""
        now_ns = time.time_ns()
        previous = self._listing_cache
        fresh: dict[str, tuple[Signature, DeviceConfigSummary | SkippedFile]] = {}
        all_from_cache = True
        for entry in self._scan_entries():
            name = entry.name
            match = CONFIG_NAME.fullmatch(name)
            if match is None:
                fresh[name] = (NO_SIGNATURE, SkippedFile(name, FileProblem.BAD_NAME, BAD_NAME))
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # Deleted since the scan: it is simply gone.
            except OSError as exc:
                reason = _storage_unavailable(exc, f"stat of {name}").reason
                fresh[name] = (NO_SIGNATURE, SkippedFile(name, FileProblem.UNREADABLE, reason))
                continue
            cached = previous.get(name)
            if cached is not None and cached[0] == _signature(info) and _settled(info, now_ns):
                fresh[name] = cached
                continue
            all_from_cache = False
            outcome = self._summarise(name, MacAddress(match["mac"]), info)
            if outcome is not None:
                fresh[name] = outcome
        self._listing_cache = fresh
        # Configs deleted behind our back (other replicas, other tools) are forgotten here.
        for mac_address in [m for m in self._valid_documents if f"{m}.json" not in fresh]:
            self._valid_documents.pop(mac_address, None)
        if all_from_cache and fresh.keys() == previous.keys() and self._last_listing is not None:
            return self._last_listing
        summaries = [o for _, o in fresh.values() if isinstance(o, DeviceConfigSummary)]
        skipped = [o for _, o in fresh.values() if isinstance(o, SkippedFile)]
        self._warn_once(skipped)
        summaries.sort(key=lambda summary: summary.mac_address.value)
        self._last_listing = ConfigListing(tuple(summaries), tuple(skipped))
        return self._last_listing

    def _summarise(
        self, name: str, mac_address: MacAddress, info: os.stat_result
    ) -> tuple[Signature, DeviceConfigSummary | SkippedFile] | None:
        """Read one entry for the listing: its summary, or why it is skipped (None: gone)."""
        mode = info.st_mode
        signature = _signature(info)
        if stat.S_ISLNK(mode):
            return signature, SkippedFile(name, FileProblem.SYMLINK, SYMLINK)
        if not stat.S_ISREG(mode):
            return signature, SkippedFile(name, FileProblem.NOT_A_FILE, NOT_A_FILE)
        try:
            _, content, read_signature = self._load_with_signature(mac_address)
        except CorruptDeviceConfig as exc:
            return signature, SkippedFile(name, exc.problem, exc.reason)
        except DeviceConfigNotFound:
            return None
        except StorageUnavailable as exc:
            # One unreadable file must not hide the rest of the fleet.
            return NO_SIGNATURE, SkippedFile(name, FileProblem.UNREADABLE, exc.reason)
        # Keyed by the signature of the file actually read (fstat), so the cached summary
        # always belongs to the bytes it came from.
        return read_signature, DeviceConfig(mac_address, content).summary()

    def _scan_entries(self) -> Iterator[os.DirEntry[str]]:
        """Entries of the directory, less hidden ones (our temp files, editors' swap files).

        Yielded one at a time, so an entry (and the stat it caches) is freed before the next
        is read: kept in a list, 20,000 of them interleaved in memory with the summaries that
        outlive them, and the allocator could give little of it back (about 10 MB of RSS).
        Temp files seen on the way are swept when stale, so a crash's debris goes away without
        a restart, at no extra cost while there is none.
        """
        temp_files: list[os.DirEntry[str]] = []
        try:
            with os.scandir(self._directory) as entries:
                for entry in entries:
                    if not entry.name.startswith("."):
                        yield entry
                    elif TEMP_NAME.fullmatch(entry.name):
                        temp_files.append(entry)
        except OSError as exc:
            raise _storage_unavailable(exc, f"listing {self._directory}") from exc
        if temp_files:
            self._sweep(temp_files)

    def sweep_stale_temp_files(self) -> int:
        """Remove temp files that a crashed writer left behind; return how many were removed."""
        try:
            with os.scandir(self._directory) as entries:
                temp_files = [entry for entry in entries if TEMP_NAME.fullmatch(entry.name)]
        except OSError:
            return 0  # Storage trouble is reported by the requests themselves.
        return self._sweep(temp_files)

    def _sweep(self, temp_files: list[os.DirEntry[str]]) -> int:
        """Only our own temp names, and only those untouched for `stale_temp_seconds`: a writer
        in another replica holds its temp file for the milliseconds of one save, never that long.
        """
        removed = 0
        now = time.time()
        for entry in temp_files:
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime < self._stale_temp_seconds:
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:
                continue  # Renamed into place, or swept by another replica, meanwhile.
            except OSError as exc:
                logger.warning("could not remove stale temporary file %s: %s", entry.name, exc)
                continue
            removed += 1
            logger.info("removed %s, a temporary file left by an interrupted save", entry.name)
        return removed

    def _warn_once(self, skipped: list[SkippedFile]) -> None:
        """Log each bad file once, not on every listing, and again only if its problem changes."""
        current = {item.name: item.reason for item in skipped}
        with self._warned_lock:
            for name, reason in current.items():
                if self._warned.get(name) != reason:
                    logger.warning("skipping %s in the configs directory: %s", name, reason)
            self._warned = current

    def _count(self) -> int:
        """Entries named like a config. Any create, delete or rename in the directory changes
        its signature, so an unchanged (and settled) directory keeps the last count."""
        try:
            info = os.stat(self._directory)
        except OSError as exc:
            raise _storage_unavailable(exc, f"checking {self._directory}") from exc
        signature = _signature(info)
        cached_signature, count = self._count_cache
        if signature == cached_signature and _settled(info, time.time_ns()):
            return count
        count = sum(1 for entry in self._scan_entries() if CONFIG_NAME.fullmatch(entry.name))
        self._count_cache = (signature, count)
        return count

    def _check(self) -> None:
        try:
            with os.scandir(self._directory) as entries:
                next(entries, None)
        except OSError as exc:
            raise _storage_unavailable(exc, f"checking {self._directory}") from exc
        try:
            lock_directory = os.lstat(self._directory / LOCK_DIRECTORY)
        except FileNotFoundError:
            return  # made by the first write
        except OSError as exc:
            raise _storage_unavailable(exc, f"checking {LOCK_DIRECTORY}") from exc
        if not stat.S_ISDIR(lock_directory.st_mode):
            raise _bad_lock_directory()

    def _save(
        self, config: DeviceConfig, overwrite: bool, condition: WriteCondition
    ) -> ConfigDocument:
        # Encoded here, off the event loop: a large config takes milliseconds to format.
        body = encode_content(config, self._max_file_bytes)
        mac_address = config.mac_address
        with self._locked(mac_address):
            if condition != ANY_STATE:
                condition.check(mac_address, self._current(mac_address))
            return self._write(mac_address, body, overwrite)

    def _update(
        self,
        mac_address: MacAddress,
        change: Callable[[DeviceConfig], DeviceConfig],
        condition: WriteCondition,
    ) -> StoredConfig:
        with self._locked(mac_address):
            document, content = self._load(mac_address)
            condition.check(mac_address, document)
            config = change(DeviceConfig(mac_address, content))
            body = encode_content(config, self._max_file_bytes)
            return StoredConfig(config, self._write(mac_address, body, overwrite=True))

    def _current(self, mac_address: MacAddress) -> ConfigDocument | None:
        """The stored bytes for a condition to judge (unparsed: a corrupt file still has a
        revision), or None when there is no config."""
        try:
            body, info = self._read(mac_address)
        except DeviceConfigNotFound:
            return None
        return ConfigDocument(mac_address, body, info.st_mtime)

    @contextmanager
    def _locked(self, mac_address: MacAddress) -> Iterator[None]:
        """Hold the config's write lock: an advisory `flock` on a lock file in the shared
        directory, so writers in other threads, processes and replicas (CephFS supports
        these locks across clients) wait their turn. Readers never take it."""
        path = self._directory / LOCK_DIRECTORY / lock_file_name(mac_address)
        fd = self._open_lock_file(path, create=True)
        if fd is None:  # the lock directory vanished between its creation and the open
            raise StorageUnavailable(StorageFailure.DIRECTORY_MISSING)
        try:
            deadline = time.monotonic() + self._lock_timeout_seconds
            _lock_before(fd, deadline)
            with self._legacy_lock(mac_address, deadline):
                yield
        finally:
            os.close(fd)  # Closing the descriptor releases the lock, as does a crash.

    def _open_lock_file(self, path: Path, *, create: bool) -> int | None:
        """A descriptor on the lock file `path` in the lock directory, which is opened itself
        without following a symlink (O_NOFOLLOW guards only a path's last part); None when
        `create` is false and the file does not exist."""
        directory_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
        try:
            try:
                directory = os.open(path.parent, directory_flags)
            except FileNotFoundError:
                if not create:
                    return None
                self._check()  # The configs directory itself may be gone: say so.
                with suppress(FileExistsError):
                    os.mkdir(path.parent, 0o755)
                directory = os.open(path.parent, directory_flags)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _bad_lock_directory() from None
            raise _storage_unavailable(exc, f"opening the lock directory {path.parent}") from exc
        try:
            return os.open(path.name, flags, FILE_MODE, dir_fd=directory)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _storage_unavailable(exc, f"opening the lock file {path}") from exc
        finally:
            os.close(directory)

    @contextmanager
    def _legacy_lock(self, mac_address: MacAddress, deadline: float) -> Iterator[None]:
        """Also hold `.locks/<mac>.lock` when it exists: earlier builds locked one such file per
        config, and during a rolling update an old replica may still write. Taken after the
        stripe, which old replicas never take, so the order cannot deadlock. A fresh install
        has none, and pays one failed `open` per write."""
        fd = self._open_lock_file(
            self._directory / LOCK_DIRECTORY / f"{mac_address}.lock", create=False
        )
        if fd is None:
            yield
            return
        try:
            _lock_before(fd, deadline)
            yield
        finally:
            os.close(fd)

    def _write(self, mac_address: MacAddress, body: bytes, overwrite: bool) -> ConfigDocument:
        target = self._path(mac_address)
        try:
            fd, temp_name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=self._directory
            )
        except OSError as exc:
            raise _storage_unavailable(
                exc, f"creating a temporary file in {self._directory}"
            ) from exc
        renamed = False
        try:
            try:
                try:
                    _write_all(fd, body)
                    os.fchmod(fd, FILE_MODE)
                    os.fsync(fd)
                    modified_at = os.fstat(fd).st_mtime
                finally:
                    os.close(fd)
                if overwrite:
                    self._replace(temp_name, target, mac_address)
                    renamed = True
                else:
                    # link() fails if the target exists: the check and the create are one step.
                    os.link(temp_name, target)
            except FileExistsError:
                raise DeviceConfigExists(str(mac_address)) from None
            except OSError as exc:
                raise _storage_unavailable(exc, f"writing {target}") from exc
        finally:
            if not renamed:  # a failed write's temp file, or the second name of a link
                self._remove_quietly(temp_name)
        self._sync_directory()
        return ConfigDocument(mac_address, body, modified_at)

    def _replace(self, temp_name: str, target: Path, mac_address: MacAddress) -> None:
        try:
            os.replace(temp_name, target)
        except IsADirectoryError:
            # An empty directory with the config's name is debris (say, a failed copy): a save
            # may take its place. A non-empty one may hold someone's data and is left alone.
            self._remove_empty_directory(target, mac_address)
            os.replace(temp_name, target)

    def _delete(self, mac_address: MacAddress, condition: WriteCondition) -> None:
        with self._locked(mac_address):
            if condition != ANY_STATE:
                condition.check(mac_address, self._current(mac_address))
            self._unlink(mac_address)
            self._valid_documents.pop(mac_address, None)

    def _unlink(self, mac_address: MacAddress) -> None:
        target = self._path(mac_address)
        try:
            os.unlink(target)
        except FileNotFoundError:
            self._check()
            raise DeviceConfigNotFound(str(mac_address)) from None
        except IsADirectoryError:
            self._remove_empty_directory(target, mac_address)
        except OSError as exc:
            raise _storage_unavailable(exc, f"deleting {target}") from exc
        self._sync_directory()

    @staticmethod
    def _remove_empty_directory(target: Path, mac_address: MacAddress) -> None:
        try:
            os.rmdir(target)
        except FileNotFoundError:
            pass  # Someone else removed it first: the way is clear.
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise _corrupt(
                    mac_address,
                    FileProblem.NOT_A_FILE,
                    "a directory with files in it has this config's name; move it away by hand",
                ) from None
            raise

    def _sync_directory(self) -> None:
        """Make the rename or unlink durable: without this a crash can bring back the old entry."""
        try:
            fd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise _storage_unavailable(exc, f"syncing {self._directory}") from exc

    @staticmethod
    def _remove_quietly(path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("could not remove temporary file %s: %s", path, exc)
