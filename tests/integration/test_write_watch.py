"""Whether writes work, known between saves: the probe write, its interval, and what saves tell."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from adapters.filesystem import FilesystemDeviceConfigRepository
from adapters.filesystem.listing import TEMP_NAME
from adapters.filesystem.writes import PROBE_PREFIX, WriteWatch
from domain.errors import StorageFailure, StorageUnavailable
from domain.model import DeviceConfig, MacAddress

A = MacAddress("aa-aa-aa-aa-aa-aa")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_here(function: Any) -> asyncio.Future[None]:
    """Run a write at once on the caller's thread: these tests look at the watch, not threads."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    try:
        function()
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(None)
    return future


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the probe files made, each seen while it existed."""
    made: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        if PROBE_PREFIX in name:
            made.append(name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return made


async def test_a_probe_writes_a_hidden_file_and_leaves_nothing(
    tmp_path: Path, probes: list[str]
) -> None:
    watch = WriteWatch(tmp_path, run_here, interval_seconds=30, clock=Clock())
    await watch.check()
    assert len(probes) == 1
    assert TEMP_NAME.fullmatch(Path(probes[0]).name)  # a crash's leftover is swept
    assert list(tmp_path.iterdir()) == []


async def test_probes_at_most_once_per_interval(tmp_path: Path, probes: list[str]) -> None:
    clock = Clock()
    watch = WriteWatch(tmp_path, run_here, interval_seconds=30, clock=clock)
    await watch.check()
    clock.now += 29
    await watch.check()
    assert len(probes) == 1
    clock.now += 1
    await watch.check()
    assert len(probes) == 2


async def test_a_recent_save_spares_the_probe_and_its_failure_is_reported(
    tmp_path: Path, probes: list[str]
) -> None:
    clock = Clock()
    watch = WriteWatch(tmp_path, run_here, interval_seconds=30, clock=clock)
    with watch.watching():
        pass  # a save that worked
    await watch.check()
    assert probes == []
    with pytest.raises(StorageUnavailable), watch.watching():
        raise StorageUnavailable(StorageFailure.DISK_FULL)
    with pytest.raises(StorageUnavailable) as caught:
        await watch.check()
    assert caught.value.failure is StorageFailure.DISK_FULL
    assert probes == []


async def test_a_failing_probe_says_why_and_is_logged_once_per_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    directory = tmp_path / "configs"
    watch = WriteWatch(directory, run_here, interval_seconds=30, clock=clock)
    caplog.set_level(logging.INFO, logger="adapters.filesystem")
    for _ in range(3):
        clock.now += 30
        with pytest.raises(StorageUnavailable) as caught:
            await watch.check()
        assert caught.value.failure is StorageFailure.DIRECTORY_MISSING
    directory.mkdir()
    clock.now += 30
    await watch.check()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith(f"writes to {directory} fail: ")
    assert messages[1] == f"writes to {directory} succeed again"


async def test_one_probe_at_a_time_and_a_caller_that_gives_up_leaves_it_running(
    tmp_path: Path,
) -> None:
    started: list[int] = []
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_run(function: Any) -> asyncio.Future[None]:
        started.append(1)

        async def later() -> None:
            await release.wait()
            function()

        return asyncio.ensure_future(later())

    watch = WriteWatch(tmp_path, slow_run, interval_seconds=30, clock=Clock())
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await watch.check()
    checks = [loop.create_task(watch.check()) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*checks)
    assert started == [1]


async def test_the_repository_reports_its_own_writes(tmp_path: Path, probes: list[str]) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path)
    await repository.save(DeviceConfig(A, {}))
    await repository.check_writes()
    assert probes == []
    shutil.rmtree(tmp_path)
    with pytest.raises(StorageUnavailable):
        await repository.delete(A)
    with pytest.raises(StorageUnavailable) as caught:
        await repository.check_writes()
    assert caught.value.failure is StorageFailure.DIRECTORY_MISSING


async def test_a_lock_held_too_long_is_one_configs_trouble_not_the_storages(
    tmp_path: Path, probes: list[str]
) -> None:
    watch = WriteWatch(tmp_path, run_here, interval_seconds=30, clock=Clock())
    with pytest.raises(StorageUnavailable), watch.watching():
        raise StorageUnavailable(StorageFailure.LOCKED)
    await watch.check()  # no outcome yet: it probes, and the probe works
    assert len(probes) == 1
