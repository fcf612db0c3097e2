"""Files in the configs directory: reading one whole, writing one atomically and durably,
deleting one, and what an OS error means for the service. Runs on worker threads."""

from __future__ import annotations

import errno
import logging
import os
import stat
import struct
import tempfile
from pathlib import Path

from adapters.filesystem.codec import corrupt
from adapters.filesystem.problems import FileProblem
from domain.errors import (
    DeviceConfigExists,
    DeviceConfigNotFound,
    StorageFailure,
    StorageUnavailable,
)
from domain.model import MacAddress

logger = logging.getLogger("adapters.filesystem")

TEMP_SUFFIX = ".tmp"
# Written files are for devices and other tools to read; mkstemp's 0600 would hide them.
FILE_MODE = 0o644
SYMLINK = "it is a symbolic link, which is never followed"
NOT_A_FILE = "it is not a regular file"
UNREADABLE = "the file may not be read (permission denied)"

_FAILURES_BY_ERRNO = {
    errno.ENOENT: StorageFailure.DIRECTORY_MISSING,
    errno.ENOTDIR: StorageFailure.NOT_A_DIRECTORY,
    errno.EACCES: StorageFailure.PERMISSION_DENIED,
    errno.EPERM: StorageFailure.PERMISSION_DENIED,
    errno.EROFS: StorageFailure.READ_ONLY,
    errno.ENOSPC: StorageFailure.DISK_FULL,
    errno.EDQUOT: StorageFailure.DISK_FULL,
}

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


def signature(info: os.stat_result) -> Signature:
    return _SIGNATURE.pack(
        info.st_mode, info.st_ino, info.st_size, info.st_mtime_ns & _U64, info.st_ctime_ns & _U64
    )


def settled(info: os.stat_result, now_ns: int) -> bool:
    return max(info.st_mtime_ns, info.st_ctime_ns) < now_ns - SETTLED_NS


def failure_of(exc: OSError) -> StorageFailure:
    return _FAILURES_BY_ERRNO.get(exc.errno or 0, StorageFailure.IO_ERROR)


def storage_unavailable(exc: OSError, action: str) -> StorageUnavailable:
    """The error a request answers with (503), logged once here with what was being done."""
    logger.error("storage failure while %s: %s", action, exc)
    return StorageUnavailable(failure_of(exc))


def check_directory(directory: Path) -> None:
    """Raise `StorageUnavailable` (caused by the OSError) unless the directory can be listed.
    Not logged here: health probes ask every few seconds, so the repository logs changes."""
    try:
        with os.scandir(directory) as entries:
            next(entries, None)
    except OSError as exc:
        raise StorageUnavailable(failure_of(exc)) from exc


# A config's own file is named by a plain string, never a `Path`: Python 3.12's pathlib interns
# every part of a path it parses, and interned strings live for ever, so a `Path` per device
# (with its MAC in it) grew the process by three strings per device ever seen.
ConfigPath = str


def read(path: ConfigPath, mac_address: MacAddress, limit: int) -> tuple[bytes, os.stat_result]:
    """The whole file and its fstat, read through one descriptor. Raises DeviceConfigNotFound,
    CorruptDeviceConfig (a symlink, not a file, over `limit`, or unreadable by permissions:
    that file's problem, not a storage failure) or StorageUnavailable."""
    try:
        # O_NOFOLLOW: a symlink could point anywhere on the host; it is never served.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise DeviceConfigNotFound(str(mac_address)) from None
    except PermissionError:
        raise corrupt(mac_address, FileProblem.UNREADABLE, UNREADABLE) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise corrupt(mac_address, FileProblem.SYMLINK, SYMLINK) from None
        raise storage_unavailable(exc, f"opening {path}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise corrupt(mac_address, FileProblem.NOT_A_FILE, NOT_A_FILE)
        if info.st_size > limit:
            raise _too_large(mac_address, limit)
        body = read_all(fd, info.st_size, limit + 1)
    except OSError as exc:
        raise storage_unavailable(exc, f"reading {path}") from exc
    finally:
        os.close(fd)
    if len(body) > limit:
        raise _too_large(mac_address, limit)
    return body, info


def _too_large(mac_address: MacAddress, limit: int) -> Exception:
    return corrupt(mac_address, FileProblem.TOO_LARGE, f"the file is over the {limit} byte limit")


def read_all(fd: int, expected: int, limit: int) -> bytes:
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


def write_atomically(
    target: ConfigPath, mac_address: MacAddress, body: bytes, overwrite: bool
) -> float:
    """Put `body` at `target` so that a reader sees the old file or the new one, never part of
    one, and the new one survives a crash once this returns: a hidden temp file beside it,
    fsynced, then renamed over it (or hard-linked, for create-only: `link` fails when the target
    exists, so the check and the create are one step), then the directory fsynced. Returns the
    new file's mtime."""
    directory, name = os.path.split(target)
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=directory)
    except OSError as exc:
        raise storage_unavailable(exc, f"creating a temporary file in {directory}") from exc
    renamed = False
    try:
        try:
            try:
                write_all(fd, body)
                os.fchmod(fd, FILE_MODE)
                os.fsync(fd)
                modified_at = os.fstat(fd).st_mtime
            finally:
                os.close(fd)
            if overwrite:
                _replace(temp_name, target, mac_address)
                renamed = True
            else:
                os.link(temp_name, target)
        except FileExistsError:
            raise DeviceConfigExists(str(mac_address)) from None
        except OSError as exc:
            raise storage_unavailable(exc, f"writing {target}") from exc
    finally:
        if not renamed:  # a failed write's temp file, or the second name of a link
            _remove_quietly(temp_name)
    sync_directory(directory)
    return modified_at


def unlink(target: ConfigPath, mac_address: MacAddress) -> None:
    """Delete the config's file durably; DeviceConfigNotFound when there is none."""
    try:
        os.unlink(target)
    except FileNotFoundError:
        raise DeviceConfigNotFound(str(mac_address)) from None
    except IsADirectoryError:
        _remove_empty_directory(target, mac_address)
    except OSError as exc:
        raise storage_unavailable(exc, f"deleting {target}") from exc
    sync_directory(os.path.dirname(target))


def sync_directory(directory: str | Path) -> None:
    """Make a rename or unlink durable: without this a crash can bring back the old entry."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise storage_unavailable(exc, f"syncing {directory}") from exc


def write_all(fd: int, body: bytes) -> None:
    view = memoryview(body)
    while view:
        view = view[os.write(fd, view) :]


def _replace(temp_name: str, target: ConfigPath, mac_address: MacAddress) -> None:
    try:
        os.replace(temp_name, target)
    except IsADirectoryError:
        # An empty directory with the config's name is debris (say, a failed copy): a save
        # may take its place. A non-empty one may hold someone's data and is left alone.
        _remove_empty_directory(target, mac_address)
        os.replace(temp_name, target)


def _remove_empty_directory(target: ConfigPath, mac_address: MacAddress) -> None:
    try:
        os.rmdir(target)
    except FileNotFoundError:
        pass  # Someone else removed it first: the way is clear.
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise corrupt(
                mac_address,
                FileProblem.NOT_A_FILE,
                "a directory with files in it has this config's name; move it away by hand",
            ) from None
        raise


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not remove temporary file %s: %s", path, exc)
