"""Storage failures under real conditions: a full filesystem, a read-only one, a locked directory.

These need root (to mount a small tmpfs and to set the immutable flag). CI runs as root, so
there they must run; run by hand without root, they are skipped with the reason.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.filesystem import FilesystemDeviceConfigRepository
from domain.errors import StorageFailure, StorageUnavailable
from domain.model import DeviceConfig, MacAddress
from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.environment import unavailable
from tests.files import entries, history_entries

A = MacAddress("aa-aa-aa-aa-aa-aa")


def run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        unavailable(f"`{' '.join(command)}` failed: {result.stderr.strip()}")


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        unavailable("mounting a tmpfs needs root")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    run("mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mount_point))
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> None:
    """Write zeros until the filesystem is full (any error but ENOSPC propagates)."""
    with (directory / "filler.bin").open("wb", buffering=0) as filler:
        while True:
            try:
                filler.write(b"\0" * 4096)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return


def visible_and_hidden(directory: Path) -> list[str]:
    return entries(directory)


async def test_full_filesystem_is_disk_full_and_keeps_the_previous_file(
    small_tmpfs: Path,
) -> None:
    repository = FilesystemDeviceConfigRepository(small_tmpfs)
    await repository.save(DeviceConfig(A, {"version": 1}), overwrite=True)
    before = (small_tmpfs / f"{A}.json").read_bytes()
    fill(small_tmpfs)

    with pytest.raises(StorageUnavailable) as caught:
        await repository.save(DeviceConfig(A, {"version": 2, "pad": "x" * 65536}), overwrite=True)

    assert caught.value.failure is StorageFailure.DISK_FULL
    assert (small_tmpfs / f"{A}.json").read_bytes() == before
    assert visible_and_hidden(small_tmpfs) == ["aa-aa-aa-aa-aa-aa.json", "filler.bin"]


async def test_full_filesystem_answers_503_saying_so(small_tmpfs: Path) -> None:
    configs = small_tmpfs / "configs"
    configs.mkdir()
    fill(small_tmpfs)
    app = create_app(bootstrap(Settings(configs_dir=configs)))
    response = await app.test_client().put(f"/api/configs/{A}", json={"content": {"x": "y" * 9000}})
    assert response.status_code == 503
    body = await response.get_json()
    assert body["code"] == "STORAGE_UNAVAILABLE"
    assert "full" in body["error"]
    assert entries(configs) == []


async def test_read_only_filesystem_refuses_writes_and_still_serves_reads(
    small_tmpfs: Path,
) -> None:
    repository = FilesystemDeviceConfigRepository(small_tmpfs)
    await repository.save(DeviceConfig(A, {"version": 1}), overwrite=True)
    before = (small_tmpfs / f"{A}.json").read_bytes()
    run("mount", "-o", "remount,ro", str(small_tmpfs))

    await assert_writes_refused(repository, StorageFailure.READ_ONLY)

    assert (await repository.get(A)).config.content == {"version": 1}
    assert (small_tmpfs / f"{A}.json").read_bytes() == before
    app = create_app(bootstrap(Settings(configs_dir=small_tmpfs)))
    response = await app.test_client().delete(f"/api/configs/{A}")
    assert response.status_code == 503
    assert "read-only" in (await response.get_json())["error"]


async def assert_writes_refused(
    repository: FilesystemDeviceConfigRepository, failure: StorageFailure
) -> None:
    """A save and a delete both fail with `failure`."""
    for write in (
        repository.save(DeviceConfig(A, {"version": 2}), overwrite=True),
        repository.delete(A),
    ):
        with pytest.raises(StorageUnavailable) as caught:
            await write
        assert caught.value.failure is failure


@pytest.fixture
def locked_directory(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody, root included, may change: the immutable attribute."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        unavailable("setting the immutable attribute needs root and chattr")
    directory = tmp_path / "locked"
    directory.mkdir()
    (directory / f"{A}.json").write_text('{"version": 1}\n')
    run("chattr", "+i", str(directory))
    try:
        yield directory
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=False)


async def test_permission_denied_refuses_writes_and_keeps_the_file(
    locked_directory: Path,
) -> None:
    repository = FilesystemDeviceConfigRepository(locked_directory)
    await assert_writes_refused(repository, StorageFailure.PERMISSION_DENIED)
    assert (locked_directory / f"{A}.json").read_text() == '{"version": 1}\n'
    app = create_app(bootstrap(Settings(configs_dir=locked_directory)))
    response = await app.test_client().put(f"/api/configs/{A}", json={"content": {}})
    assert response.status_code == 503
    assert "permission denied" in (await response.get_json())["error"]


async def test_replaced_directory_is_used_from_the_next_request(tmp_path: Path) -> None:
    directory = tmp_path / "configs"
    directory.mkdir()
    repository = FilesystemDeviceConfigRepository(directory)
    await repository.save(DeviceConfig(A, {"old": True}), overwrite=True)

    directory.rename(tmp_path / "configs.old")
    directory.mkdir()
    assert (await repository.list_summaries()).summaries == ()
    await repository.save(DeviceConfig(A, {"new": True}), overwrite=True)

    assert (directory / f"{A}.json").exists()
    assert (tmp_path / "configs.old" / f"{A}.json").read_text() == '{\n  "old": true\n}\n'


async def test_a_full_disk_keeps_health_200_and_says_writes_fail_until_a_save_works(
    small_tmpfs: Path,
) -> None:
    configs = small_tmpfs / "configs"
    configs.mkdir()
    app = create_app(bootstrap(Settings(configs_dir=configs)))
    client = app.test_client()
    fill(small_tmpfs)
    health = await client.get("/api/health")
    assert health.status_code == 200  # devices keep reading
    writes = (await health.get_json())["writes"]
    assert (writes["status"], writes["reason"]) == ("failing", "disk_full")
    assert "full" in writes["message"]
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert "iot_storage_writable 0.0" in metrics
    assert entries(configs) == []  # the probe left nothing behind

    (small_tmpfs / "filler.bin").unlink()
    # Within the probe interval the last outcome stands; the next save that works clears it.
    assert (await (await client.get("/api/health")).get_json())["writes"]["status"] == "failing"
    assert (await client.put(f"/api/configs/{A}", json={"content": {}})).status_code == 200
    writes = (await (await client.get("/api/health")).get_json())["writes"]
    assert writes == {"status": "ok", "reason": None, "message": None}


# History: recording it fails a write cleanly, before the config is touched.


async def test_a_full_disk_fails_a_save_before_config_or_history_change(
    small_tmpfs: Path,
) -> None:
    repository = FilesystemDeviceConfigRepository(small_tmpfs)
    await repository.save(DeviceConfig(A, {"version": 1}))
    await repository.save(DeviceConfig(A, {"version": 2}))
    before, kept = (small_tmpfs / f"{A}.json").read_bytes(), history_entries(small_tmpfs)
    fill(small_tmpfs)

    for write in (
        repository.save(DeviceConfig(A, {"version": 3, "pad": "x" * 65536})),
        repository.restore(A, "000000000001"),
    ):
        with pytest.raises(StorageUnavailable) as caught:
            await write
        assert caught.value.failure is StorageFailure.DISK_FULL
    assert (small_tmpfs / f"{A}.json").read_bytes() == before
    assert history_entries(small_tmpfs) == kept  # no revision,
    assert entries(small_tmpfs) == [f"{A}.json", "filler.bin"]  # and nothing left prepared
    history = await repository.history(A, limit=10)
    assert [r.revision for r in history.revisions] == ["000000000002", "000000000001"]
    assert history.current == "000000000002"


async def test_a_read_only_mount_refuses_every_write_and_still_shows_history(
    small_tmpfs: Path,
) -> None:
    repository = FilesystemDeviceConfigRepository(small_tmpfs)
    await repository.save(DeviceConfig(A, {"version": 1}))
    await repository.save(DeviceConfig(A, {"version": 2}))
    kept = history_entries(small_tmpfs)
    run("mount", "-o", "remount,ro", str(small_tmpfs))

    await assert_writes_refused(repository, StorageFailure.READ_ONLY)
    with pytest.raises(StorageUnavailable) as caught:
        await repository.restore(A, "000000000001")
    assert caught.value.failure is StorageFailure.READ_ONLY
    assert history_entries(small_tmpfs) == kept
    client = create_app(bootstrap(Settings(configs_dir=small_tmpfs))).test_client()
    listed = await (await client.get(f"/api/configs/{A}/history")).get_json()
    assert [r["operation"] for r in listed["revisions"]] == ["save", "save"]
    restored = await client.post(f"/api/configs/{A}/restore", json={"revision": "000000000001"})
    assert restored.status_code == 503
    assert "read-only" in (await restored.get_json())["error"]
    assert (await client.get("/api/history/deleted")).status_code == 200
