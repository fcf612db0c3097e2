"""Write locks shared by every writer of the directory: threads, processes and replicas.

An advisory `flock` on one of a fixed set of lock files in `.locks/` beside the configs
(CephFS supports these locks across clients). Within a process, writers of one stripe first
queue on a lock in memory, so that only one of them at a time polls the file lock: a burst of
saves to one config waits in line instead of each thread waking to retry `flock` (CPU that
grew with the time a write holds the lock). Readers never take one. Runs on worker threads.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from adapters.filesystem.files import FILE_MODE, check_directory, storage_unavailable
from domain.errors import StorageFailure, StorageUnavailable
from domain.model import MacAddress

logger = logging.getLogger(__name__)

# Hidden, so listings ignore it; in the configs directory, so all replicas lock the same files.
LOCK_DIRECTORY = ".locks"
# Writers lock one of a fixed set of lock files, picked from the MAC (see lock_file_name).
LOCK_STRIPES = 256


def lock_file_name(mac_address: MacAddress) -> str:
    """The lock file a write to this config takes: one of LOCK_STRIPES, by a CRC-32 of the MAC.

    A fixed set rather than one file per config: the directory of locks stays small whatever
    the fleet did, and a device's first save does not pay for creating one. Two configs in one
    stripe only wait for each other's write. Every replica must pick the same file for a MAC,
    so this function and LOCK_STRIPES are part of the on-disk format (a test pins them).
    """
    return f"stripe-{_stripe(mac_address):03d}.lock"


def _stripe(mac_address: MacAddress) -> int:
    return zlib.crc32(mac_address.value.encode()) % LOCK_STRIPES


class WriteLocks:
    def __init__(self, directory: Path, timeout_seconds: float) -> None:
        self._locks = directory / LOCK_DIRECTORY
        self._timeout_seconds = timeout_seconds
        self._in_process = [threading.Lock() for _ in range(LOCK_STRIPES)]

    @contextmanager
    def held(self, mac_address: MacAddress) -> Iterator[None]:
        """Hold the config's write lock, waiting `timeout_seconds` at most for it (then
        StorageUnavailable LOCKED: a peer that holds it longer is stuck, and a write applied
        long after its client gave up would surprise everyone)."""
        deadline = time.monotonic() + self._timeout_seconds
        in_process = self._in_process[_stripe(mac_address)]
        if not in_process.acquire(timeout=self._timeout_seconds):
            raise _held_too_long()
        try:
            fd = self._open(lock_file_name(mac_address), create=True)
            if fd is None:  # the lock directory vanished between its creation and the open
                raise StorageUnavailable(StorageFailure.DIRECTORY_MISSING)
            try:
                _lock_before(fd, deadline)
                with self._legacy_lock(mac_address, deadline):
                    yield
            finally:
                os.close(fd)  # Closing the descriptor releases the lock, as does a crash.
        finally:
            in_process.release()

    def check(self) -> None:
        """Raise unless the lock directory is usable or not made yet (the first write makes it)."""
        try:
            info = os.lstat(self._locks)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise storage_unavailable(exc, f"checking {LOCK_DIRECTORY}") from exc
        if not stat.S_ISDIR(info.st_mode):
            raise _bad_lock_directory()

    def _open(self, name: str, *, create: bool) -> int | None:
        """A descriptor on lock file `name`, the lock directory itself opened without following
        a symlink (O_NOFOLLOW guards only a path's last part); None when `create` is false and
        the file does not exist."""
        directory_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
        try:
            try:
                directory = os.open(self._locks, directory_flags)
            except FileNotFoundError:
                if not create:
                    return None
                check_directory(self._locks.parent)  # The configs directory may be gone: say so.
                with suppress(FileExistsError):
                    os.mkdir(self._locks, 0o755)
                directory = os.open(self._locks, directory_flags)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _bad_lock_directory() from None
            raise storage_unavailable(exc, f"opening the lock directory {self._locks}") from exc
        try:
            return os.open(name, flags, FILE_MODE, dir_fd=directory)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise storage_unavailable(exc, f"opening the lock file {name}") from exc
        finally:
            os.close(directory)

    @contextmanager
    def _legacy_lock(self, mac_address: MacAddress, deadline: float) -> Iterator[None]:
        """Also hold `.locks/<mac>.lock` when it exists: earlier builds locked one such file per
        config, and during a rolling update an old replica may still write. Taken after the
        stripe, which old replicas never take, so the order cannot deadlock. A fresh install
        has none, and pays one failed `open` per write."""
        fd = self._open(f"{mac_address}.lock", create=False)
        if fd is None:
            yield
            return
        try:
            _lock_before(fd, deadline)
            yield
        finally:
            os.close(fd)


def _lock_before(fd: int, deadline: float) -> None:
    """Take an exclusive `flock` on `fd`, waiting until `deadline` (monotonic) at most. Polled:
    `flock` itself has no timeout, and a blocked call could not be given up. The first try
    almost always succeeds, so an uncontended write pays one system call."""
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _held_too_long() from None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def _held_too_long() -> StorageUnavailable:
    logger.warning("a config's write lock stayed held past the deadline")
    return StorageUnavailable(StorageFailure.LOCKED)


def _bad_lock_directory() -> StorageUnavailable:
    logger.error(
        "%s in the configs directory is not a directory; writes are refused", LOCK_DIRECTORY
    )
    return StorageUnavailable(StorageFailure.BAD_LOCK_DIRECTORY)
