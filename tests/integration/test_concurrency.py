"""Concurrent saves and deletes on one config, from threads and from separate processes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from adapters.filesystem import FilesystemDeviceConfigRepository
from adapters.filesystem.codec import encode_content
from adapters.filesystem.repository import DEFAULT_MAX_FILE_BYTES
from domain.errors import DeviceConfigNotFound
from domain.model import DeviceConfig, MacAddress
from tests.files import entries
from tests.storage_worker import race_content, spawn

WRITERS = 50
MAC = "aa-aa-aa-aa-aa-aa"


def every_body() -> set[bytes]:
    mac = MacAddress(MAC)
    return {
        encode_content(DeviceConfig(mac, race_content(writer)), DEFAULT_MAX_FILE_BYTES)
        for writer in range(WRITERS)
    }


def assert_one_complete_body_or_none(directory: Path, *, may_be_absent: bool) -> None:
    names = entries(directory)
    assert not [n for n in names if n.startswith(".")], f"temp files left: {names}"
    path = directory / f"{MAC}.json"
    if may_be_absent and not path.exists():
        assert names == []
        return
    assert names == [path.name]
    assert path.read_bytes() in every_body()


def run_in_threads(operations: list[str], directory: Path) -> tuple[list[str], list[bytes]]:
    """Run the operations at once, one thread each, while a reader keeps reading the file."""
    repository = FilesystemDeviceConfigRepository(directory)
    barrier = threading.Barrier(len(operations) + 1)
    outcomes: list[str] = []
    reads: list[bytes] = []
    done = threading.Event()

    def operate(writer: int, operation: str) -> None:
        barrier.wait()
        mac = MacAddress(MAC)
        try:
            if operation == "save":
                asyncio.run(
                    repository.save(DeviceConfig(mac, race_content(writer)), overwrite=True)
                )
                outcomes.append("saved")
            else:
                asyncio.run(repository.delete(mac))
                outcomes.append("deleted")
        except DeviceConfigNotFound:
            outcomes.append("not found")
        except Exception as error:
            outcomes.append(f"error: {error!r}")

    def read() -> None:
        barrier.wait()
        while not done.is_set():
            with contextlib.suppress(DeviceConfigNotFound):
                reads.append(asyncio.run(repository.get_document(MacAddress(MAC))).body)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=operate, args=(i, op)) for i, op in enumerate(operations)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    return outcomes, reads


def test_fifty_threads_saving_one_config_leave_one_complete_body(tmp_path: Path) -> None:
    outcomes, reads = run_in_threads(["save"] * WRITERS, tmp_path)
    assert outcomes == ["saved"] * WRITERS
    assert_one_complete_body_or_none(tmp_path, may_be_absent=False)
    assert set(reads) <= every_body()


def test_fifty_threads_saving_and_deleting_never_fail_or_tear(tmp_path: Path) -> None:
    operations = ["save", "delete"] * (WRITERS // 2)
    outcomes, reads = run_in_threads(operations, tmp_path)
    counts = Counter(outcomes)
    assert counts["saved"] == WRITERS // 2
    assert counts["deleted"] + counts["not found"] == WRITERS // 2
    assert_one_complete_body_or_none(tmp_path, may_be_absent=True)
    assert set(reads) <= every_body()


def run_in_processes(operations: list[str], directory: Path, start_file: Path) -> list[str]:
    processes = [
        spawn("race", str(directory), MAC, str(writer), str(start_file), operation)
        for writer, operation in enumerate(operations)
    ]
    # All processes are up and polling before any of them may start.
    start_file.touch()
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        outcomes.append(out.decode().strip() or f"exit {process.returncode}: {err.decode()}")
    return outcomes


@pytest.fixture
def start_file(tmp_path: Path) -> Path:
    return tmp_path / "go"


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "configs"
    directory.mkdir()
    return directory


@pytest.mark.slow
def test_fifty_processes_saving_one_config_leave_one_complete_body(
    shared_dir: Path, start_file: Path
) -> None:
    outcomes = run_in_processes(["save"] * WRITERS, shared_dir, start_file)
    assert outcomes == ["saved"] * WRITERS
    assert_one_complete_body_or_none(shared_dir, may_be_absent=False)
    assert msgspec.json.decode((shared_dir / f"{MAC}.json").read_bytes())["writer"] in range(
        WRITERS
    )


@pytest.mark.slow
def test_fifty_processes_saving_and_deleting_never_fail_or_tear(
    shared_dir: Path, start_file: Path
) -> None:
    outcomes = run_in_processes(["save", "delete"] * (WRITERS // 2), shared_dir, start_file)
    counts = Counter(outcomes)
    assert counts["saved"] == WRITERS // 2
    assert counts["deleted"] + counts["not found"] == WRITERS // 2, outcomes
    assert_one_complete_body_or_none(shared_dir, may_be_absent=True)


def test_concurrent_read_modify_conditional_writes_lose_no_update(tmp_path: Path) -> None:
    """Processes each add one to a counter, writing only if the config is unchanged since
    they read it: the final counter equals the number of writes that succeeded."""
    asyncio.run(
        FilesystemDeviceConfigRepository(tmp_path).save(
            DeviceConfig(MacAddress(MAC), {"counter": 0})
        )
    )
    workers = [spawn("increment", str(tmp_path), MAC, "20") for _ in range(6)]
    results = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * 6, [err for _, err in results]
    succeeded = sum(int(out.split()[0]) for out, _ in results)
    conflicts = sum(int(out.split()[1]) for out, _ in results)
    final = msgspec.json.decode((tmp_path / f"{MAC}.json").read_bytes())
    assert succeeded == 120
    assert final["counter"] == succeeded
    print(f"{succeeded} increments, {conflicts} refused as stale and retried")
