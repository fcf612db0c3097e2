"""The directory as a whole: listing summaries, sweeping crash debris.

Each scan looks at the directory itself; the summaries kept between scans are reused only while
an entry's stat signature is unchanged and settled (see files.signature), so changes by other
replicas or tools show on the next scan. Runs on worker threads.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from adapters.filesystem.files import (
    NO_SIGNATURE,
    NOT_A_FILE,
    SYMLINK,
    Signature,
    failure_of,
    settled,
    signature,
    storage_unavailable,
)
from adapters.filesystem.problems import FileProblem
from domain.errors import (
    CorruptDeviceConfig,
    DeviceConfigNotFound,
    StorageUnavailable,
)
from domain.model import ConfigListing, DeviceConfigSummary, MacAddress, SkippedFile

logger = logging.getLogger(__name__)

CONFIG_NAME = re.compile(r"(?P<mac>[0-9a-f]{2}(?:-[0-9a-f]{2}){5})\.json")
# What mkstemp makes of prefix ".<mac>.json." (a save) or writes.PROBE_PREFIX, and TEMP_SUFFIX.
TEMP_NAME = re.compile(
    r"\.(?:[0-9a-f]{2}(?:-[0-9a-f]{2}){5}\.json|write-probe)\.[A-Za-z0-9_]+\.tmp"
)
BAD_NAME = "the name is not <mac>.json"

# Reads one config for the listing: its summary and the signature of the bytes it came from.
Summarise = Callable[[MacAddress], tuple[DeviceConfigSummary, Signature]]
Outcome = DeviceConfigSummary | SkippedFile


class DirectoryListing:
    def __init__(self, directory: Path, summarise: Summarise, stale_temp_seconds: float) -> None:
        self._directory = directory
        self._summarise_config = summarise
        self._stale_temp_seconds = stale_temp_seconds
        self._cache: dict[str, tuple[Signature, Outcome]] = {}
        self._last: ConfigListing | None = None
        self._warned: dict[str, str] = {}
        self._warned_lock = threading.Lock()

    def summaries(self) -> ConfigListing:
        """One directory scan and one `lstat` per entry; only entries whose stat signature
        changed since the last listing (or changed too recently to trust) are read again.
        An unchanged directory gives back the very same listing object (see the port)."""
        now_ns = time.time_ns()
        previous = self._cache
        fresh: dict[str, tuple[Signature, Outcome]] = {}
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
                reason = StorageUnavailable(failure_of(exc)).reason
                fresh[name] = (NO_SIGNATURE, SkippedFile(name, FileProblem.UNREADABLE, reason))
                continue
            cached = previous.get(name)
            if cached is not None and cached[0] == signature(info) and settled(info, now_ns):
                fresh[name] = cached
                continue
            all_from_cache = False
            outcome = self._summarise(name, MacAddress(match["mac"]), info)
            if outcome is not None:
                fresh[name] = outcome
        self._cache = fresh
        if all_from_cache and fresh.keys() == previous.keys() and self._last is not None:
            return self._last
        summaries = [o for _, o in fresh.values() if isinstance(o, DeviceConfigSummary)]
        skipped = [o for _, o in fresh.values() if isinstance(o, SkippedFile)]
        self._warn_once(skipped)
        summaries.sort(key=lambda summary: summary.mac_address.value)
        self._last = ConfigListing(tuple(summaries), tuple(skipped))
        return self._last

    def holds(self, name: str) -> bool:
        """Whether the last scan saw an entry of this name."""
        return name in self._cache

    def sweep_stale_temp_files(self) -> int:
        """Remove temp files that a crashed writer left behind; return how many were removed."""
        try:
            with os.scandir(self._directory) as entries:
                temp_files = [entry for entry in entries if TEMP_NAME.fullmatch(entry.name)]
        except OSError:
            return 0  # Storage trouble is reported by the requests themselves.
        return self._sweep(temp_files)

    def _summarise(
        self, name: str, mac_address: MacAddress, info: os.stat_result
    ) -> tuple[Signature, Outcome] | None:
        """Read one entry for the listing: its summary, or why it is skipped (None: gone)."""
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            return signature(info), SkippedFile(name, FileProblem.SYMLINK, SYMLINK)
        if not stat.S_ISREG(mode):
            return signature(info), SkippedFile(name, FileProblem.NOT_A_FILE, NOT_A_FILE)
        try:
            summary, read_signature = self._summarise_config(mac_address)
        except CorruptDeviceConfig as exc:
            return signature(info), SkippedFile(name, exc.problem, exc.reason)
        except DeviceConfigNotFound:
            return None
        except StorageUnavailable as exc:
            # One unreadable file must not hide the rest of the fleet.
            return NO_SIGNATURE, SkippedFile(name, FileProblem.UNREADABLE, exc.reason)
        # Keyed by the signature of the file actually read (fstat), so the cached summary
        # always belongs to the bytes it came from.
        return read_signature, summary

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
            raise storage_unavailable(exc, f"listing {self._directory}") from exc
        if temp_files:
            self._sweep(temp_files)

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
