"""Device check-ins on the share: `.checkins/<mac>.json`, one small file per device.

`record` runs on a device's download, on the event loop's thread: it appends to a list, and
nothing else (no I/O, no lock, no await). A background task calls `flush` every
CHECKIN_FLUSH_SECONDS: the check-ins since the last flush are added up per device and written,
each device's file replaced atomically (a temp file renamed over it; no fsync: a check-in is
telemetry, and a crash loses at most one flush interval). A device's file is rewritten only
when what the device holds, its status, its client or its user agent changed, or when the file
was last written more than CHECKIN_REFRESH_SECONDS ago: in steady state one write per device
per refresh period, whatever the poll rate and the number of replicas. The check-ins a flush
leaves unwritten are kept and merged into the next write (and into this replica's reads).
Writing merges with what the file holds, keeping the newest check-in, so replicas add up.

Reads scan the directory and keep each file's record while its stat signature is unchanged
and settled (the config listing's rule), so what another replica wrote shows at the next read.
Devices with no config (the records whose last download was a 404) are capped at the most
recent `max_unknown`: a scan of random MACs cannot grow the directory or memory without end.

A forget removes the device's file and leaves `.checkins/<mac>.forgotten` (the MAC and the
moment, nothing of the device's) for `forget_marks_seconds`, the longest another replica may
hold check-ins back unwritten (a refresh period and two flushes): a replica that meets the mark,
where the file is missing or in a read, drops the check-ins it held from before that moment, so
a forget is not undone by what another replica had not written yet. Expired marks are removed by
the replica that made them (at its flushes) and by any read.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import msgspec

from adapters.filesystem.files import (
    Signature,
    settled,
    signature,
    storage_unavailable,
    write_all,
)
from domain.checkins import RECENT_CHECK_INS, CheckIn, DeviceRecord, adding
from domain.model import MacAddress

CHECKIN_DIRECTORY = ".checkins"
RECORD_NAME = re.compile(r"(?P<mac>[0-9a-f]{2}(?:-[0-9a-f]{2}){5})\.json")
MARK_SUFFIX = ".forgotten"
MARK_NAME = re.compile(r"(?P<mac>[0-9a-f]{2}(?:-[0-9a-f]{2}){5})\.forgotten")
TEMP_NAME = re.compile(r"\.[0-9a-f-]{17}\.(?:json|forgotten)\.[0-9a-f]+\.tmp")
# A record is a few hundred bytes; a bigger file is not one of ours and is not read whole.
MAX_RECORD_BYTES = 4096
DEFAULT_MAX_UNKNOWN = 1000
# Check-ins waiting for the next flush, at most: beyond, a flood is dropped and counted.
MAX_PENDING = 200_000
# A temp file older than this is a crashed write's, removed by the next read.
STALE_TEMP_SECONDS = 60.0
NOT_FOUND = 404
# How long a forget's mark is kept when the log is not told (the default refresh period and two
# default flushes; see `forget_marks_seconds`).
DEFAULT_FORGET_MARKS_SECONDS = 320.0
# A read of every record is reused this long while nothing was recorded here (see `records`).
READ_REUSE_SECONDS = 1.0
# A read looks at every file at least this often, whatever the directory's signature says.
FULL_SCAN_SECONDS = 60.0


class _Stored(msgspec.Struct):
    """The file's format (documented in ARCHITECTURE.md)."""

    mac_address: str
    last_seen_at: float
    last_status: int
    device_etag: str | None
    client: str | None
    user_agent: str | None
    recent: list[float]
    written_at: float


class _Mark(msgspec.Struct):
    """A forget's mark (documented in ARCHITECTURE.md): check-ins up to `forgotten_at` are gone."""

    mac_address: str
    forgotten_at: float


@attrs.frozen
class CheckInStats:
    recorded: int
    written: int
    dropped: int
    pending: int


@attrs.frozen
class _OnShare:
    """A device's file as last read or written by this replica."""

    signature: Signature
    record: DeviceRecord
    written_at: float


class FilesystemCheckInLog:
    def __init__(
        self,
        configs_directory: Path,
        *,
        refresh_seconds: float = 300.0,
        max_unknown: int = DEFAULT_MAX_UNKNOWN,
        max_pending: int = MAX_PENDING,
        has_config: Callable[[str], bool] | None = None,
        forget_marks_seconds: float = DEFAULT_FORGET_MARKS_SECONDS,
    ) -> None:
        self._root = str(configs_directory / CHECKIN_DIRECTORY)
        self._configs = str(configs_directory)
        self._refresh_seconds = refresh_seconds
        self._max_unknown = max_unknown
        self._max_pending = max_pending
        self._forget_marks_seconds = forget_marks_seconds
        self._has_config = has_config or self._config_exists
        self._temp_token = secrets.token_hex(6)
        # Appended to by `record` on the event loop's thread alone; swapped out by `flush`.
        self._pending: list[CheckIn] = []
        # Guards what follows: flushes, reads and forgets run on worker threads.
        self._lock = threading.Lock()
        self._unwritten: dict[str, DeviceRecord] = {}
        self._on_share: dict[str, _OnShare] = {}
        # Devices forgotten within `forget_marks_seconds` (here, or by a mark found on the
        # share), and when: check-ins up to then are neither written nor read.
        self._forgotten: dict[str, float] = {}
        # The marks this replica left, removed by its flushes once expired.
        self._marks: dict[str, float] = {}
        self._recorded = 0
        self._written = 0
        self._dropped = 0
        self._overflowed = 0
        # A device new to the share was absorbed since the last flush (by a read, say).
        self._arrived = False
        # The read in progress, shared by concurrent readers, and the last one, with when it
        # began (time.monotonic()); forgotten on any check-in, flush or forget.
        self._reading: asyncio.Future[dict[MacAddress, DeviceRecord]] | None = None
        self._last_read: tuple[float, dict[MacAddress, DeviceRecord]] | None = None
        # What the last read found, by name and by MAC (see `_records`).
        self._last_records: tuple[dict[str, DeviceRecord], dict[MacAddress, DeviceRecord]]
        self._last_records = ({}, {})
        # Each device's last merge of the share's record with the one held here (`_records`).
        self._merges: dict[str, tuple[DeviceRecord, DeviceRecord, DeviceRecord]] = {}
        # The directory's signature at the last scan that found it settled, and when.
        self._scanned: tuple[Signature, int] | None = None

    # The hot path

    def record(self, check_in: CheckIn) -> None:
        if len(self._pending) >= self._max_pending:
            self._overflowed += 1  # this thread's alone, like the list
            return
        self._pending.append(check_in)

    # Background and admin work

    async def flush(self) -> None:
        """Write what was recorded since the last flush (see the module's docstring)."""
        self._last_read = None
        await asyncio.to_thread(self._flush, self._take_pending(), time.time())

    async def records(self) -> dict[MacAddress, DeviceRecord]:
        """Every device's record: the share's, with this replica's check-ins not written yet.
        Concurrent reads share one scan, and a scan is reused for READ_REUSE_SECONDS while this
        replica recorded nothing since (what other replicas wrote shows within that, inside the
        contract's "a flush interval and a second"): at 20,000 devices a scan is 20,000 stats,
        and an admin page asking every few seconds, or many at once, need not repeat it."""
        if self._pending or self._last_read is None:
            self._last_read = None
        elif time.monotonic() - self._last_read[0] < READ_REUSE_SECONDS:
            return self._last_read[1]
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read_all())
        reading = self._reading
        try:
            return await asyncio.shield(reading)
        finally:
            if reading.done() and self._reading is reading:
                self._reading = None

    async def _read_all(self) -> dict[MacAddress, DeviceRecord]:
        started = time.monotonic()
        found = await asyncio.to_thread(self._records, self._take_pending())
        self._last_read = (started, found)
        return found

    async def record_of(self, mac_address: MacAddress) -> DeviceRecord | None:
        return await asyncio.to_thread(self._record_of, mac_address, self._take_pending())

    async def forget(self, mac_address: MacAddress) -> bool:
        """Remove the device's check-ins, on the share and here; whether there were any."""
        self._last_read = None
        batch = self._take_pending()
        return await asyncio.to_thread(self._forget, str(mac_address), batch, time.time())

    def _take_pending(self) -> list[CheckIn]:
        # On the event loop's thread, like `record`: the swap needs no lock.
        batch, self._pending = self._pending, []
        return batch

    def stats(self) -> CheckInStats:
        with self._lock:
            dropped = self._dropped + self._overflowed
            return CheckInStats(self._recorded, self._written, dropped, len(self._pending))

    # Worker threads

    def _flush(self, batch: list[CheckIn], now: float) -> None:
        self._absorb(batch)
        with self._lock:
            arrived, self._arrived = self._arrived, False
            maybe_due = [
                (name, record)
                for name, record in self._unwritten.items()
                if not self._held_back(self._on_share.get(name), record, now)
            ]
        for name, record in maybe_due:
            self._write(name, record, now)
        if arrived:  # a device not on the share before: the cap may be passed
            self._cap_unknown()
        self._remove_expired_marks(now)

    def _absorb(self, batch: list[CheckIn]) -> None:
        """Add a batch up into what this replica holds unwritten (a read does it too, so no
        read goes over the same check-ins twice), noting whether a device new to the share
        came (the next flush checks the cap)."""
        fresh = self._added_up(batch)
        with self._lock:
            self._recorded += len(batch)
            horizon = time.time() - self._forget_marks_seconds
            self._forgotten = {n: at for n, at in self._forgotten.items() if at > horizon}
            for name, forgotten_at in self._forgotten.items():
                record = fresh.pop(name, None)
                kept = record.since(forgotten_at) if record is not None else None
                if kept is not None:
                    fresh[name] = kept
            for name, record in fresh.items():
                unwritten = self._unwritten.pop(name, None)
                self._unwritten[name] = record if unwritten is None else unwritten.merged(record)
            self._arrived |= any(name not in self._on_share for name in fresh)

    def _held_back(self, on_share: _OnShare | None, record: DeviceRecord, now: float) -> bool:
        """Whether the file already says what `record` says and is not due for a refresh."""
        if on_share is None:
            return False
        recent = now - on_share.written_at < self._refresh_seconds
        return record.same_check_in(on_share.record) and recent

    def _added_up(self, batch: list[CheckIn]) -> dict[str, DeviceRecord]:
        """The batch's check-ins per device; unknown devices (404) beyond the cap dropped, the
        oldest first."""
        fresh: dict[str, DeviceRecord] = {}
        for check_in in batch:
            name = str(check_in.mac_address)
            fresh[name] = adding(fresh.get(name), check_in)
        unknown = [record for record in fresh.values() if record.last_status == NOT_FOUND]
        if len(unknown) > self._max_unknown:
            unknown.sort(key=lambda record: record.last_seen_at)
            doomed = unknown[: len(unknown) - self._max_unknown]
            for record in doomed:
                del fresh[str(record.mac_address)]
            with self._lock:
                self._dropped += len(doomed)
        return fresh

    def _write(self, name: str, record: DeviceRecord, now: float) -> None:
        """Write the device's file unless, read again now, it already says the same and was
        written within the refresh period (by another replica, say); merged with what it
        holds, so the newest check-in of every replica is kept."""
        path = os.path.join(self._root, f"{name}.json")
        current = self._read(path)
        if current is None:  # never written, or forgotten (here or by another replica)
            forgotten_at = self._forgotten_at(name)
            kept = record if forgotten_at is None else record.since(forgotten_at)
            if kept is None:
                with self._lock:
                    if self._unwritten.get(name) is record:
                        del self._unwritten[name]
                return
            record = kept
        if current is not None:
            info, on_file, written_at = current
            on_share = _OnShare(signature(info), on_file, written_at)
            if on_file.last_seen_at >= record.last_seen_at or self._held_back(
                on_share, record, now
            ):
                with self._lock:
                    self._on_share[name] = on_share
                    if on_file.last_seen_at >= record.last_seen_at:
                        self._unwritten.pop(name, None)  # the share holds as new a check-in
                return
        merged = record if current is None else current[1].merged(record)
        stored = _Stored(
            name,
            merged.last_seen_at,
            merged.last_status,
            merged.device_etag,
            merged.client,
            merged.user_agent,
            list(merged.recent),
            now,
        )
        try:
            info = self._replace(f"{name}.json", msgspec.json.encode(stored))
        except OSError as exc:
            # Telemetry: kept for the next flush, never a request's failure.
            storage_unavailable(exc, f"writing device check-ins in {self._root}")
            return
        with self._lock:
            self._written += 1
            self._on_share[name] = _OnShare(signature(info), merged, now)
            unwritten = self._unwritten.get(name)
            if unwritten is not None and unwritten.last_seen_at <= record.last_seen_at:
                del self._unwritten[name]

    def _replace(self, file_name: str, body: bytes) -> os.stat_result:
        """Put `body` in `.checkins/<file_name>` whole (a temp file renamed over it); its stat."""
        path = os.path.join(self._root, file_name)
        temp = os.path.join(self._root, f".{file_name}.{self._temp_token}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        try:
            try:
                fd = os.open(temp, flags, 0o644)
            except FileNotFoundError:  # the first write of all, or the folder removed since
                os.makedirs(self._root, exist_ok=True)
                fd = os.open(temp, flags, 0o644)
            try:
                write_all(fd, body)
            finally:
                os.close(fd)
            os.replace(temp, path)
            return os.lstat(path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def _body(self, path: str) -> tuple[os.stat_result, bytes] | None:
        """A file's stat and bytes, at most MAX_RECORD_BYTES of a regular file; None when
        there is no file or it is not one of ours (a symlink is never followed)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise storage_unavailable(exc, f"reading device check-ins {path}") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RECORD_BYTES:
                return None
            return info, os.read(fd, MAX_RECORD_BYTES + 1)
        except OSError as exc:
            raise storage_unavailable(exc, f"reading device check-ins {path}") from exc
        finally:
            os.close(fd)

    def _forgotten_at(self, name: str) -> float | None:
        """When the device was last forgotten, within `forget_marks_seconds`: as known here, or
        from its mark on the share."""
        with self._lock:
            known = self._forgotten.get(name)
        if known is not None:
            return known
        return self._mark_at(name, os.path.join(self._root, f"{name}{MARK_SUFFIX}"))

    def _mark_at(self, name: str, path: str, *, remove_expired: bool = False) -> float | None:
        """The moment a forget's mark names (then known here too); None when there is no mark,
        it is not one of ours, or it expired (removed, when asked to)."""
        found = self._body(path)
        if found is None:
            return None
        try:
            mark = msgspec.json.decode(found[1], type=_Mark)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if mark.mac_address != name or not math.isfinite(mark.forgotten_at):
            return None
        now = time.time()
        lifetime = self._forget_marks_seconds
        # Expired, or from a clock far ahead (it would hide the device for good): not kept.
        if not now - lifetime < mark.forgotten_at < now + lifetime:
            if remove_expired:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            return None
        with self._lock:
            self._forgotten[name] = max(mark.forgotten_at, self._forgotten.get(name, -math.inf))
        return mark.forgotten_at

    def _remove_expired_marks(self, now: float) -> None:
        horizon = now - self._forget_marks_seconds
        with self._lock:
            expired = [name for name, at in self._marks.items() if at <= horizon]
            for name in expired:
                del self._marks[name]
        for name in expired:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self._root, f"{name}{MARK_SUFFIX}"))

    def _read(self, path: str) -> tuple[os.stat_result, DeviceRecord, float] | None:
        """The record a file holds, its stat and when it was written; None when there is no
        file or it is not one of ours."""
        found = self._body(path)
        if found is None:
            return None
        info, body = found
        try:
            stored = msgspec.json.decode(body, type=_Stored)
            mac_address = MacAddress(stored.mac_address)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            return None
        if not all(math.isfinite(t) for t in (stored.last_seen_at, *stored.recent)):
            return None
        record = DeviceRecord(
            mac_address,
            stored.last_seen_at,
            stored.last_status,
            stored.device_etag,
            stored.client,
            stored.user_agent,
            tuple(sorted(stored.recent)[-RECENT_CHECK_INS:]),
        )
        return info, record, stored.written_at

    def _scan(self) -> dict[str, DeviceRecord]:
        """Every record on the share, each file read only when its signature changed; not
        even a stat per file while the directory's own signature is the one the last scan saw
        settled (see `_unchanged_since_scan`)."""
        now_ns = time.time_ns()
        try:
            directory = os.stat(self._root)
        except FileNotFoundError:
            directory = None
        except OSError as exc:
            raise storage_unavailable(exc, f"reading device check-ins in {self._root}") from exc
        with self._lock:
            if self._unchanged_since_scan(directory, now_ns):
                return {name: on_share.record for name, on_share in self._on_share.items()}
        try:
            entries = list(os.scandir(self._root))
        except FileNotFoundError:
            entries = []
        except OSError as exc:
            raise storage_unavailable(exc, f"reading device check-ins in {self._root}") from exc
        with self._lock:
            known = dict(self._on_share)
        found: dict[str, _OnShare] = {}
        for entry in entries:
            match = RECORD_NAME.fullmatch(entry.name)
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if match is None:
                if marked := MARK_NAME.fullmatch(entry.name):
                    self._mark_at(marked["mac"], entry.path, remove_expired=True)
                else:
                    self._sweep(entry.path, entry.name, info, now_ns)
                continue
            name = match["mac"]
            seen = known.get(name)
            if seen is not None and seen.signature == signature(info) and settled(info, now_ns):
                found[name] = seen
                continue
            read = self._read(entry.path)
            if read is not None and str(read[1].mac_address) == name:
                found[name] = _OnShare(signature(read[0]), read[1], read[2])
        with self._lock:
            # Kept: what this replica wrote since the scan began (seen next time).
            for name, on_share in self._on_share.items():
                if name not in found and on_share.written_at * 1e9 >= now_ns:
                    found[name] = on_share
            self._on_share = found
            self._scanned = None
            if directory is not None and settled(directory, now_ns):
                self._scanned = (signature(directory), now_ns)
            return {name: on_share.record for name, on_share in found.items()}

    def _unchanged_since_scan(self, directory: os.stat_result | None, now_ns: int) -> bool:
        """Under the lock: whether the last scan still stands. Every file here is written by
        a rename and removed by an unlink, each of which changes the directory's mtime; a
        directory already settled when it was scanned gets a later mtime from any change
        since, this replica's own writes, forgets and trims among them (what they changed is
        in `_on_share` already, but the scan after them looks again). A full scan at least every
        FULL_SCAN_SECONDS all the same, for stale temp files and expired marks, and for a
        file changed in place by hand."""
        scanned = self._scanned
        if directory is None or scanned is None:
            return False
        recent = now_ns - scanned[1] < FULL_SCAN_SECONDS * 1e9
        return recent and scanned[0] == signature(directory)

    def _sweep(self, path: str, name: str, info: os.stat_result, now_ns: int) -> None:
        stale = info.st_mtime_ns < now_ns - STALE_TEMP_SECONDS * 1e9
        if TEMP_NAME.fullmatch(name) and stat.S_ISREG(info.st_mode) and stale:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _records(self, batch: list[CheckIn]) -> dict[MacAddress, DeviceRecord]:
        self._absorb(batch)
        on_share = self._scan()
        with self._lock:
            self._drop_forgotten()
            unwritten = dict(self._unwritten)
            forgotten = dict(self._forgotten)
        merged: dict[str, DeviceRecord] = dict(on_share)
        # A device's merge kept while both sides are the very same objects: in steady state
        # every device a replica serves has check-ins held back, and a record made anew each
        # read would make every device look changed to the device list.
        last_merges = self._merges
        merges: dict[str, tuple[DeviceRecord, DeviceRecord, DeviceRecord]] = {}
        for name, record in unwritten.items():
            known = merged.get(name)
            if known is None:
                merged[name] = record
                continue
            merge = last_merges.get(name)
            if merge is None or merge[0] is not known or merge[1] is not record:
                merge = (known, record, known.merged(record))
            merges[name] = merge
            merged[name] = merge[2]
        self._merges = merges
        for name, forgotten_at in forgotten.items():  # a file written before a mark was seen
            forgotten_record = merged.pop(name, None)
            kept = forgotten_record.since(forgotten_at) if forgotten_record is not None else None
            if kept is not None:
                merged[name] = kept
        with self._lock:
            # Equal to the last read's (one lookup per device; a record read or merged anew
            # compares by value): that read's very mapping, as the port promises.
            last_merged, last_records = self._last_records
            if merged == last_merged:
                return last_records
            records = {record.mac_address: record for record in merged.values()}
            self._last_records = (merged, records)
            return records

    def _record_of(self, mac_address: MacAddress, batch: list[CheckIn]) -> DeviceRecord | None:
        self._absorb(batch)
        name = str(mac_address)
        read = self._read(os.path.join(self._root, f"{name}.json"))
        record = read[1] if read is not None else None
        with self._lock:
            unwritten = self._unwritten.get(name)
        if unwritten is not None:
            record = unwritten if record is None else record.merged(unwritten)
        forgotten_at = self._forgotten_at(name) if record is not None else None
        if forgotten_at is not None and record is not None:
            record = record.since(forgotten_at)
        return record

    def _drop_forgotten(self) -> None:
        """Under the lock: what this replica holds unwritten from before a known forget."""
        for name, forgotten_at in self._forgotten.items():
            held = self._unwritten.pop(name, None)
            kept = held.since(forgotten_at) if held is not None else None
            if kept is not None:
                self._unwritten[name] = kept

    def _forget(self, name: str, batch: list[CheckIn], now: float) -> bool:
        """The mark first, then the file: a replica that finds the file gone finds the mark."""
        self._absorb(batch)
        path = os.path.join(self._root, f"{name}.json")
        with self._lock:
            held = name in self._unwritten
        if not held and not os.path.lexists(path):
            return False  # nothing kept: nothing to mark
        try:
            self._replace(f"{name}{MARK_SUFFIX}", msgspec.json.encode(_Mark(name, now)))
        except OSError as exc:
            raise storage_unavailable(exc, f"forgetting device check-ins of {name}") from exc
        with self._lock:
            self._forgotten[name] = now
            self._marks[name] = now
            self._unwritten.pop(name, None)
            self._on_share.pop(name, None)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # removed meanwhile (another replica's forget): forgotten all the same
        except OSError as exc:
            raise storage_unavailable(exc, f"forgetting device check-ins of {name}") from exc
        return True

    def _cap_unknown(self) -> None:
        """Keep the most recent `max_unknown` devices with no config, on the share and here: a
        device that asked for a config that does not exist, or whose config was deleted."""
        records = self._records([])
        if len(records) <= self._max_unknown:
            return  # within the cap whatever has a config: no file looked at
        unknown = [
            record for record in records.values() if not self._has_config(str(record.mac_address))
        ]
        if len(unknown) <= self._max_unknown:
            return
        unknown.sort(key=lambda record: record.last_seen_at)
        for record in unknown[: len(unknown) - self._max_unknown]:
            name = str(record.mac_address)
            with self._lock:
                self._unwritten.pop(name, None)
                self._on_share.pop(name, None)
                self._dropped += 1
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self._root, f"{name}.json"))

    def _config_exists(self, name: str) -> bool:
        return os.path.lexists(os.path.join(self._configs, f"{name}.json"))
