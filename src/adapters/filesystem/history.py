"""Revisions on the share, beside the configs: `.history/<mac>/<seq>.rev`, one file each.

A revision file is one line of JSON metadata, a newline, then the config's stored bytes exactly
(nothing after the newline for a delete). `<seq>` is twelve digits, one more than the config's
newest revision, so names sort oldest first and are the same on every replica. Every method
runs on a write thread under the config's write lock (`locks.WriteLocks`), which is what orders
revisions across replicas.

A write is recorded in two steps around the config's own write: `prepare` writes and fsyncs the
revision as `.<mac>.revision` in the configs directory first (a full disk or a read-only mount
fails there, before the config is touched), `commit` renames it into the history after the
config was written. A crash in between leaves the prepared file; the next write (or history
read) of that config finds it (`catch_up`) and commits it when the config holds its bytes, so no
version is lost and none is recorded that never was.

Durable at one fsync more than the write itself: the prepared file sits beside the config, so
the config write's own directory fsync (`files.write_atomically`, `files.unlink`) makes its
name durable with the config's; the commit is one rename, atomic across a crash (either the
prepared name or the revision's survives, and the first is committed by the next look), so it
needs no fsync of its own.

The bytes are copied, not hard-linked: a link would share the config file's inode, and another
program writing that file in place would rewrite history with it.
"""

from __future__ import annotations

import array
import collections
import contextlib
import errno
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import msgspec

from adapters.filesystem.codec import decode
from adapters.filesystem.files import (
    Signature,
    settled,
    signature,
    storage_unavailable,
    write_all,
)
from domain.errors import CorruptDeviceConfig
from domain.history import DeletedConfig, Operation, Revision, RevisionContent, WriteOrigin
from domain.model import ConfigDocument, MacAddress

HISTORY_DIRECTORY = ".history"
REVISION_SUFFIX = ".rev"
REVISION_NAME = re.compile(r"(?P<seq>[0-9]{12})\.rev")
# The revision a write is recording, beside the config (hidden: the listing skips it). One name
# per config: the config's lock allows one write at a time.
PREPARED_SUFFIX = ".revision"
# Bounded so that a hand-edited revision file cannot make a reader take it whole.
MAX_HEADER_BYTES = 4096
MAC_DIRECTORY_NAME = re.compile(r"[0-9a-f]{2}(?:-[0-9a-f]{2}){5}")
# The size of the history on disk is walked at most this often (a metric; see `measure`).
MEASURE_SECONDS = 60.0
# How many configs' tails (`_Tail`) a process keeps: the configs it wrote most recently.
KEPT_TAILS = 2048


class _Header(msgspec.Struct, omit_defaults=True):
    revision: str
    operation: str
    saved_at: float
    etag: str
    size: int
    client: str | None = None
    user: str | None = None
    correlation_id: str | None = None


@attrs.frozen
class Prepared:
    """A revision written under its prepared name, waiting for `commit`."""

    directory: str
    temp_name: str
    revision: Revision
    # The directory's revision names (sorted), as this write found and changes them: one scan
    # per write, not one per step.
    names: list[str]


@attrs.frozen
class HistoryStats:
    """What this process recorded and pruned, and the history's size on disk (all replicas'),
    as last measured (None before the first measure)."""

    recorded: dict[str, int]
    pruned: int
    bytes_on_disk: int | None


@attrs.frozen
class _Surveyed:
    """One config's history directory as a survey found it, kept while it is unchanged."""

    signature: Signature
    newest: Revision | None
    size: int


@attrs.frozen
class _Tail:
    """A config's history as this process's last write (or listing) left it: its revision
    numbers, ascending, and its newest revision. It stays true while `<newest + 1>.rev` does
    not exist: every writer, on every replica, numbers its revision one more than the newest
    it finds, under the config's lock, and a prune never removes the newest, so any write
    since would have made that name. One `stat` instead of a listing of a hundred names and a
    read of the newest: a save costs fewer system calls, each of which a busy process pays
    for again in handing the GIL around (measured: bench/storage_alone.py)."""

    numbers: array.array[int]
    newest: Revision

    @classmethod
    def of(cls, names: list[str], newest: Revision) -> _Tail:
        return cls(array.array("Q", [int(name[:12]) for name in names]), newest)

    def names(self) -> list[str]:
        return [_name(number) for number in self.numbers]

    def next_name(self) -> str:
        return _name(self.numbers[-1] + 1)


DEFAULT_MAX_REVISIONS = 100
DEFAULT_MAX_AGE_DAYS = 365


class RevisionLog:
    def __init__(
        self,
        configs_directory: Path,
        *,
        max_revisions: int = DEFAULT_MAX_REVISIONS,
        max_age_days: float = DEFAULT_MAX_AGE_DAYS,
        enabled: bool = True,
    ) -> None:
        self._configs = configs_directory
        self._root = configs_directory / HISTORY_DIRECTORY
        self._root_name = str(self._root)
        self._max_revisions = max_revisions
        # 0: kept forever.
        self._max_age_seconds = max_age_days * 86400
        # Off (HISTORY=off): writes record nothing; what is on the share stays as it is.
        self.enabled = enabled
        self._counts_lock = threading.Lock()
        self._recorded = collections.Counter({operation.value: 0 for operation in Operation})
        self._pruned = 0
        self._survey_lock = threading.Lock()
        self._surveyed: dict[str, _Surveyed] = {}
        self._bytes_on_disk: int | None = None
        self._measured_at = -MEASURE_SECONDS
        self._tails_lock = threading.Lock()
        self._tails: collections.OrderedDict[str, _Tail] = collections.OrderedDict()

    def prepare(
        self,
        mac_address: MacAddress,
        operation: Operation,
        document: ConfigDocument | None,
        origin: WriteOrigin,
        *,
        names: list[str],
        deleted: ConfigDocument | None = None,
        saved_at: float | None = None,
    ) -> Prepared | None:
        """Write the next revision of this config under its prepared name, fsynced. `document` is
        what will be stored (None for a delete, with `deleted` what is removed); `names` is
        what `catch_up` returned. None when history is off."""
        if not self.enabled:
            return None
        directory = self._directory(mac_address)
        seq = int(names[-1][:12]) + 1 if names else 1
        kept = document if document is not None else deleted
        revision = Revision(
            revision=f"{seq:012d}",
            operation=operation,
            saved_at=time.time() if saved_at is None else saved_at,
            etag=kept.revision if kept is not None else "",
            size=len(document.body) if document is not None else 0,
            origin=origin,
        )
        header = _Header(
            revision.revision,
            operation.value,
            revision.saved_at,
            revision.etag,
            revision.size,
            origin.client,
            origin.user,
            origin.correlation_id,
        )
        content = msgspec.json.encode(header) + b"\n" + (document.body if document else b"")
        temp_name = self._prepared_path(mac_address)
        try:
            if not names:  # the config's first revision: its directory is made here
                os.makedirs(directory, exist_ok=True)
            fd = os.open(temp_name, _PREPARE_FLAGS, 0o644)
            try:
                write_all(fd, content)
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(temp_name)  # a full disk leaves nothing behind
                raise
            os.close(fd)
        except OSError as exc:
            raise storage_unavailable(exc, f"recording history in {directory}") from exc
        return Prepared(directory, temp_name, revision, names)

    def commit(self, prepared: Prepared | None) -> None:
        """Move a prepared revision into the history under its number (new: the lock holds
        every other writer off, and the number is one more than the newest found)."""
        if prepared is None:
            return
        name = f"{prepared.revision.revision}{REVISION_SUFFIX}"
        target = os.path.join(prepared.directory, name)
        try:
            try:
                os.rename(prepared.temp_name, target)
            except FileNotFoundError:
                # The directory is gone (removed by hand since this process's last write).
                os.makedirs(prepared.directory, exist_ok=True)
                os.rename(prepared.temp_name, target)
        except OSError as exc:
            self._forget_tail(prepared.directory)
            raise storage_unavailable(exc, f"recording history in {prepared.directory}") from exc
        prepared.names.append(name)
        prepared.names.sort()
        self._prune(prepared.directory, prepared.names)
        if prepared.names[-1] == name:
            self._keep_tail(prepared.directory, _Tail.of(prepared.names, prepared.revision))
        else:  # a number below the newest: only a history edited by hand gets here
            self._forget_tail(prepared.directory)
        with self._counts_lock:
            self._recorded[prepared.revision.operation.value] += 1

    def _prune(self, directory: str, names: list[str]) -> None:
        """Keep at most `max_revisions`, none older than `max_age_days`; never the newest (what
        is stored, or the delete that ended it) nor the newest delete (so a deleted config can
        always be found and brought back). Oldest first, so usually one name is looked at."""
        older = names[:-1]
        doomed = older[: max(0, len(names) - self._max_revisions)]
        if self._max_age_seconds:
            cutoff = time.time() - self._max_age_seconds
            for name in older[len(doomed) :]:
                if _mtime(os.path.join(directory, name)) >= cutoff:
                    break
                doomed.append(name)
        for name in doomed:
            revision = self._read(os.path.join(directory, name))
            if revision is not None and revision.operation is Operation.DELETE:
                newer = names[names.index(name) + 1 :]
                if not any(self._is_delete(os.path.join(directory, other)) for other in newer):
                    continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
            names.remove(name)
            with self._counts_lock:
                self._pruned += 1

    def _is_delete(self, path: str) -> bool:
        revision = self._read(path)
        return revision is not None and revision.operation is Operation.DELETE

    def abandon(self, prepared: Prepared | None) -> None:
        """The write it was for failed: nothing to record."""
        if prepared is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(prepared.temp_name)

    def catch_up(
        self, mac_address: MacAddress, current: ConfigDocument | None, *, external: bool = True
    ) -> list[str]:
        """Before a write: make the history end with what is stored now, and return its
        revision names for `prepare`. A revision left prepared is a crashed
        write's (writes hold the lock from prepare to commit): committed if the config holds
        its bytes (a delete's: if the config is gone), else removed. A version another program
        wrote is recorded as `external`, unless `external` is false (a read that found a
        crashed write's revision commits it and records nothing else)."""
        if not self.enabled:
            return []
        names, newest, leftovers = self._scan(mac_address)
        recorded = False
        for prepared in leftovers:
            # A crashed save's revision is committed when the config holds its bytes; a
            # crashed delete's when the config is gone (its etag names the bytes it deleted,
            # which a delete that never happened still holds).
            if prepared.revision.operation is Operation.DELETE:
                happened = current is None
            else:
                happened = current is not None and prepared.revision.etag == current.revision
            if not recorded and happened and prepared.revision is not _TORN:
                self.commit(attrs.evolve(prepared, names=names))
                recorded = True
            else:
                self.abandon(prepared)
        if recorded or current is None or not external:
            return names
        if (
            newest is not None
            and newest.operation is not Operation.DELETE
            and newest.etag == current.revision
        ):
            return names
        edited = self.prepare(
            mac_address,
            Operation.EXTERNAL,
            current,
            WriteOrigin(),
            names=names,
            saved_at=current.modified_at,
        )
        self.commit(edited)
        return names

    def revisions(
        self, mac_address: MacAddress, limit: int, before: str | None = None
    ) -> tuple[Revision, ...]:
        """Newest first, at most `limit`, only those older than `before` when given."""
        directory = self._directory(mac_address)
        names = sorted(self._names(directory), reverse=True)
        if before is not None:
            names = [name for name in names if name < f"{before}{REVISION_SUFFIX}"]
        found = []
        for name in names[:limit]:
            revision = self._read(os.path.join(directory, name))
            if revision is not None:
                found.append(revision)
        return tuple(found)

    def content(self, mac_address: MacAddress, revision: str, limit: int) -> RevisionContent | None:
        """One revision and the bytes it kept, or None when there is no such revision (or the
        file is not a whole one). `limit` bounds the bytes read, as for a config."""
        if REVISION_NAME.fullmatch(f"{revision}{REVISION_SUFFIX}") is None:
            return None
        path = os.path.join(self._directory(mac_address), f"{revision}{REVISION_SUFFIX}")
        try:
            with open(path, "rb") as file:
                line = file.readline(MAX_HEADER_BYTES)
                found = self._revision_from(line)
                if found is None or found.size > limit:
                    return None
                body = file.read(found.size + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise storage_unavailable(exc, f"reading history file {path}") from exc
        if len(body) != found.size:
            return None
        try:
            content = decode(mac_address, body) if found.operation is not Operation.DELETE else None
        except CorruptDeviceConfig:
            content = None  # Another program's bytes: kept as they were, not a config.
        return RevisionContent(found, body, content)

    def deleted(self, stored: Callable[[str], bool]) -> tuple[DeletedConfig, ...]:
        """The configs whose newest revision is a delete, newest first, less those `stored`
        says are back (another program wrote the file since)."""
        found = [
            DeletedConfig(MacAddress(name), surveyed.newest.saved_at, surveyed.newest.revision)
            for name, surveyed in self._survey().items()
            if surveyed.newest is not None
            and surveyed.newest.operation is Operation.DELETE
            and not stored(name)
        ]
        found.sort(key=lambda item: (item.deleted_at, str(item.mac_address)), reverse=True)
        return tuple(found)

    def stats(self) -> HistoryStats:
        with self._counts_lock:
            return HistoryStats(dict(self._recorded), self._pruned, self._bytes_on_disk)

    def measure_due(self) -> bool:
        return time.monotonic() - self._measured_at >= MEASURE_SECONDS

    def measure(self) -> None:
        """Measure the history's bytes on disk. A directory unchanged since the last survey
        (stat signature, settled) is not walked again, so at 20,000 configs a measure costs a
        stat per config plus a walk of the few that changed."""
        self._measured_at = time.monotonic()
        surveyed = self._survey()
        self._bytes_on_disk = sum(item.size for item in surveyed.values())

    def _survey(self) -> dict[str, _Surveyed]:
        """Every config's history directory: its newest revision and its bytes. What an earlier
        survey found is kept for a directory whose signature is unchanged and settled (adding or
        removing a revision changes it); the rest is looked at again, and directories gone
        since are forgotten."""
        with self._survey_lock:
            try:
                entries = list(os.scandir(self._root))
            except FileNotFoundError:
                self._surveyed = {}
                return {}
            except OSError as exc:
                raise storage_unavailable(exc, f"reading history in {self._root}") from exc
            now = time.time_ns()
            fresh: dict[str, _Surveyed] = {}
            for entry in entries:
                if MAC_DIRECTORY_NAME.fullmatch(entry.name) is None:
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(info.st_mode):
                    continue
                known = self._surveyed.get(entry.name)
                if known is not None and known.signature == signature(info) and settled(info, now):
                    fresh[entry.name] = known
                else:
                    fresh[entry.name] = self._survey_one(entry.path, signature(info))
            self._surveyed = fresh
            return fresh

    def _survey_one(self, directory: str, directory_signature: Signature) -> _Surveyed:
        names, size = [], 0
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    with contextlib.suppress(FileNotFoundError):
                        size += entry.stat(follow_symlinks=False).st_size
                    if REVISION_NAME.fullmatch(entry.name):
                        names.append(entry.name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise storage_unavailable(exc, f"reading history in {directory}") from exc
        newest = self._read(os.path.join(directory, max(names))) if names else None
        return _Surveyed(directory_signature, newest, size)

    # Internals

    def _directory(self, mac_address: MacAddress) -> str:
        # A string, not a Path: see files.ConfigPath (3.12's pathlib interns every part).
        return os.path.join(self._root_name, str(mac_address))

    def _names(self, directory: str) -> list[str]:
        try:
            return revision_names(os.listdir(directory))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise storage_unavailable(exc, f"reading history in {directory}") from exc

    def signature(self, mac_address: MacAddress) -> Signature | None:
        """The config's history directory's stat signature, while settled (an entry added or
        removed changes it; one changed this recently may share it with the change before);
        None when there is none, or it changed too recently to be trusted."""
        try:
            info = os.stat(self._directory(mac_address))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise storage_unavailable(exc, f"reading history of {mac_address}") from exc
        return signature(info) if settled(info, time.time_ns()) else None

    def prepared_left(self, mac_address: MacAddress) -> bool:
        """Whether a revision waits under its prepared name (a write in progress, or one that
        crashed between its config's write and its commit)."""
        return os.path.lexists(self._prepared_path(mac_address))

    def _prepared_path(self, mac_address: MacAddress) -> str:
        return os.path.join(self._configs, f".{mac_address}{PREPARED_SUFFIX}")

    def newest(self, mac_address: MacAddress) -> Revision | None:
        return self._newest(self._directory(mac_address))

    def _newest(self, directory: str) -> Revision | None:
        names = self._names(directory)
        return self._read(os.path.join(directory, max(names))) if names else None

    def _scan(self, mac_address: MacAddress) -> tuple[list[str], Revision | None, list[Prepared]]:
        """The config's revision names, sorted, its newest revision, and the revision left
        prepared, if any (a torn one, from a crash while it was written, keeps none)."""
        directory = self._directory(mac_address)
        with self._tails_lock:
            tail = self._tails.get(directory)
        newest: Revision | None
        if tail is not None and not os.path.lexists(os.path.join(directory, tail.next_name())):
            names, newest = tail.names(), tail.newest
        else:
            names = self._names(directory)
            newest = self._read(os.path.join(directory, names[-1])) if names else None
        path = self._prepared_path(mac_address)
        try:
            read = self._read_with_length(path, missing_ok=False)
        except FileNotFoundError:
            return names, newest, []
        whole = read is not None and _size(path) == read[1] + read[0].size
        revision = read[0] if read is not None and whole else _TORN
        return names, newest, [Prepared(directory, path, revision, names)]

    def _keep_tail(self, directory: str, tail: _Tail) -> None:
        with self._tails_lock:
            self._tails[directory] = tail
            self._tails.move_to_end(directory)
            if len(self._tails) > KEPT_TAILS:
                self._tails.popitem(last=False)

    def _forget_tail(self, directory: str) -> None:
        with self._tails_lock:
            self._tails.pop(directory, None)

    def _read(self, path: str) -> Revision | None:
        """The revision in this file, or None when it is not one (a torn or foreign file)."""
        read = self._read_with_length(path)
        return None if read is None else read[0]

    def _read_with_length(
        self, path: str, *, missing_ok: bool = True
    ) -> tuple[Revision, int] | None:
        """The revision in this file and its header line's length in bytes. One read of the
        first block through a raw descriptor: a history page reads a hundred of these.
        FileNotFoundError when there is no file and `missing_ok` is false."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            if not missing_ok:
                raise
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None  # a symlink is no revision of ours, and is never followed
            raise storage_unavailable(exc, f"reading history file {path}") from exc
        try:
            start = os.read(fd, MAX_HEADER_BYTES)
        except OSError as exc:
            raise storage_unavailable(exc, f"reading history file {path}") from exc
        finally:
            os.close(fd)
        end = start.find(b"\n")
        line = start if end < 0 else start[: end + 1]
        revision = self._revision_from(line)
        return None if revision is None else (revision, len(line))

    @staticmethod
    def _revision_from(line: bytes) -> Revision | None:
        try:
            header = msgspec.json.decode(line, type=_Header)
            operation = Operation(header.operation)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            return None
        return Revision(
            revision=header.revision,
            operation=operation,
            saved_at=header.saved_at,
            etag=header.etag,
            size=header.size,
            origin=WriteOrigin(header.client, header.user, header.correlation_id),
        )


_TORN = Revision("", Operation.EXTERNAL, 0.0, "", 0)


def revision_names(entries: list[str]) -> list[str]:
    """The revision names among a directory's entries, sorted (oldest first). Every write
    lists its config's history, a hundred names: tested inline, without a call or a regex per
    name (REVISION_NAME says the same)."""
    return sorted(
        name
        for name in entries
        if len(name) == 16
        and name[12:] == REVISION_SUFFIX
        and name[:12].isdigit()
        and name.isascii()
    )


def _name(number: int) -> str:
    return f"{number:012d}{REVISION_SUFFIX}"


_PREPARE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return float("inf")


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1
