"""The filesystem adapter on real temp directories: format, skipping rules, failures, atomicity."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.filesystem import FilesystemDeviceConfigRepository, codec, files
from adapters.filesystem import locks as lock_files
from adapters.filesystem.listing import TEMP_NAME
from adapters.filesystem.problems import FileProblem
from domain.errors import (
    CorruptDeviceConfig,
    DeviceConfigExists,
    DeviceConfigNotFound,
    DeviceConfigTooLarge,
    InvalidDeviceConfig,
    StorageFailure,
    StorageUnavailable,
)
from domain.model import DeviceConfig, MacAddress
from tests.files import entries

A = MacAddress("aa-aa-aa-aa-aa-aa")
B = MacAddress("bb-bb-bb-bb-bb-bb")


@pytest.fixture
def repository(tmp_path: Path) -> FilesystemDeviceConfigRepository:
    return FilesystemDeviceConfigRepository(tmp_path, max_file_bytes=4096)


def visible_names(directory: Path) -> list[str]:
    return entries(directory)


async def test_saved_file_is_pretty_printed_utf8_with_final_newline(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    await repository.save(DeviceConfig(A, {"name": "Küche", "list": [1, {}]}), overwrite=True)
    text = (tmp_path / "aa-aa-aa-aa-aa-aa.json").read_text(encoding="utf-8")
    assert text == '{\n  "name": "Küche",\n  "list": [\n    1,\n    {}\n  ]\n}\n'


async def test_saved_file_is_readable_by_other_tools_and_no_temp_file_remains(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    await repository.save(DeviceConfig(A, {}), overwrite=True)
    assert visible_names(tmp_path) == ["aa-aa-aa-aa-aa-aa.json"]
    mode = stat.S_IMODE((tmp_path / "aa-aa-aa-aa-aa-aa.json").stat().st_mode)
    assert mode == 0o644


async def test_refused_create_leaves_no_temp_file(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}), overwrite=True)
    with pytest.raises(DeviceConfigExists):
        await repository.save(DeviceConfig(A, {"v": 2}), overwrite=False)
    assert visible_names(tmp_path) == ["aa-aa-aa-aa-aa-aa.json"]


def write(directory: Path, name: str, data: bytes) -> None:
    (directory / name).write_bytes(data)


BAD_FILES = [
    ("aa-aa-aa-aa-aa-aa.json", b"", FileProblem.EMPTY),
    ("aa-aa-aa-aa-aa-aa.json", b"  \n", FileProblem.EMPTY),
    ("aa-aa-aa-aa-aa-aa.json", b'{"a": ', FileProblem.INVALID_JSON),
    ("aa-aa-aa-aa-aa-aa.json", b'{"a": NaN}', FileProblem.INVALID_JSON),
    ("aa-aa-aa-aa-aa-aa.json", b"[1, 2]", FileProblem.NOT_AN_OBJECT),
    ("aa-aa-aa-aa-aa-aa.json", b'"text"', FileProblem.NOT_AN_OBJECT),
    ("aa-aa-aa-aa-aa-aa.json", b"null", FileProblem.NOT_AN_OBJECT),
    ("aa-aa-aa-aa-aa-aa.json", b'{"a": "\xff"}', FileProblem.NOT_UTF8),
    ("aa-aa-aa-aa-aa-aa.json", b'{"caf\xc3\xa9": ', FileProblem.INVALID_JSON),
    ("aa-aa-aa-aa-aa-aa.json", b'{"a":' * 2000 + b"1" + b"}" * 2000, FileProblem.TOO_LARGE),
    ("aa-aa-aa-aa-aa-aa.json", b'{"a":' + b"[" * 1500 + b"]" * 1500 + b"}", FileProblem.TOO_DEEP),
    ("aa-aa-aa-aa-aa-aa.json", b'{"a": "' + b"x" * 5000 + b'"}', FileProblem.TOO_LARGE),
]


@pytest.mark.parametrize(("name", "data", "problem"), BAD_FILES)
async def test_bad_file_is_skipped_by_listing_and_reported_by_get(
    repository: FilesystemDeviceConfigRepository,
    tmp_path: Path,
    name: str,
    data: bytes,
    problem: FileProblem,
) -> None:
    write(tmp_path, name, data)
    await repository.save(DeviceConfig(B, {"deviceName": "good"}), overwrite=True)

    listing = await repository.list_summaries()

    assert [s.mac_address for s in listing.summaries] == [B]
    assert [(s.name, s.problem) for s in listing.skipped] == [(name, problem)]
    with pytest.raises(CorruptDeviceConfig) as caught:
        await repository.get(A)
    assert caught.value.problem is problem
    with pytest.raises(CorruptDeviceConfig):
        await repository.get_document(A)


async def test_bad_file_is_replaced_by_a_save(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    write(tmp_path, "aa-aa-aa-aa-aa-aa.json", b"{broken")
    await repository.save(DeviceConfig(A, {"fixed": True}), overwrite=True)
    assert (await repository.get(A)).config.content == {"fixed": True}


@pytest.mark.parametrize(
    "name",
    [
        "AA-AA-AA-AA-AA-AA.json",
        "aa:aa:aa:aa:aa:aa.json",
        "aa-aa-aa-aa-aa-aa.json~",
        "aa-aa-aa-aa-aa-aa.json.bak",
        "aa-aa-aa-aa-aa-aa.txt",
        "notes.txt",
        "aa-aa-aa-aa-aa-aa",
    ],
)
async def test_files_not_named_like_a_config_are_skipped(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path, name: str
) -> None:
    write(tmp_path, name, b'{"deviceName": "looks valid"}')
    listing = await repository.list_summaries()
    assert listing.summaries == ()
    assert [(s.name, s.problem) for s in listing.skipped] == [(name, FileProblem.BAD_NAME)]


async def test_hidden_files_such_as_temp_files_are_ignored_silently(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    write(tmp_path, ".aa-aa-aa-aa-aa-aa.json.x1y2.tmp", b'{"half": ')
    write(tmp_path, ".aa-aa-aa-aa-aa-aa.json", b"{}")
    listing = await repository.list_summaries()
    assert listing.summaries == ()
    assert listing.skipped == ()


async def test_symlink_is_never_followed(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.json"
    outside.write_text('{"secret": true}')
    (tmp_path / "aa-aa-aa-aa-aa-aa.json").symlink_to(outside)

    listing = await repository.list_summaries()

    assert listing.summaries == ()
    assert [s.problem for s in listing.skipped] == [FileProblem.SYMLINK]
    with pytest.raises(CorruptDeviceConfig) as caught:
        await repository.get_document(A)
    assert caught.value.problem is FileProblem.SYMLINK
    assert "secret" not in caught.value.message


async def test_save_replaces_a_symlink_without_touching_its_target(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-target.json"
    outside.write_text('{"keep": true}')
    (tmp_path / "aa-aa-aa-aa-aa-aa.json").symlink_to(outside)
    await repository.save(DeviceConfig(A, {"new": 1}), overwrite=True)
    assert outside.read_text() == '{"keep": true}'
    assert not (tmp_path / "aa-aa-aa-aa-aa-aa.json").is_symlink()
    assert (await repository.get(A)).config.content == {"new": 1}


async def test_directory_named_like_a_config_is_skipped_and_reported(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    (tmp_path / "aa-aa-aa-aa-aa-aa.json").mkdir()
    listing = await repository.list_summaries()
    assert [s.problem for s in listing.skipped] == [FileProblem.NOT_A_FILE]
    with pytest.raises(CorruptDeviceConfig) as caught:
        await repository.get(A)
    assert caught.value.reason == "it is not a regular file"


async def test_save_takes_the_place_of_an_empty_directory(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    (tmp_path / "aa-aa-aa-aa-aa-aa.json").mkdir()
    await repository.save(DeviceConfig(A, {"v": 1}), overwrite=True)
    assert (await repository.get(A)).config.content == {"v": 1}


async def test_delete_removes_an_empty_directory(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    (tmp_path / "aa-aa-aa-aa-aa-aa.json").mkdir()
    await repository.delete(A)
    assert visible_names(tmp_path) == []


async def test_directory_with_files_is_never_removed(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    (tmp_path / "aa-aa-aa-aa-aa-aa.json").mkdir()
    (tmp_path / "aa-aa-aa-aa-aa-aa.json" / "precious.txt").write_text("keep")
    with pytest.raises(CorruptDeviceConfig, match="move it away"):
        await repository.save(DeviceConfig(A, {}), overwrite=True)
    with pytest.raises(CorruptDeviceConfig, match="move it away"):
        await repository.delete(A)
    assert (tmp_path / "aa-aa-aa-aa-aa-aa.json" / "precious.txt").read_text() == "keep"
    assert visible_names(tmp_path) == ["aa-aa-aa-aa-aa-aa.json"]


async def test_fifo_named_like_a_config_does_not_block(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "aa-aa-aa-aa-aa-aa.json")
    listing = await repository.list_summaries()
    assert [s.problem for s in listing.skipped] == [FileProblem.NOT_A_FILE]


async def test_each_bad_file_is_logged_once_across_listings(
    repository: FilesystemDeviceConfigRepository,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write(tmp_path, "aa-aa-aa-aa-aa-aa.json", b"[]")
    with caplog.at_level(logging.WARNING):
        await repository.list_summaries()
        await repository.list_summaries()
    assert [r.getMessage() for r in caplog.records] == [
        "skipping aa-aa-aa-aa-aa-aa.json in the configs directory: "
        "the file holds a JSON array, not an object"
    ]


async def test_missing_directory_makes_every_call_storage_unavailable(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path / "gone")
    calls: list[Any] = [
        repository.list_summaries(),
        repository.get(A),
        repository.get_document(A),
        repository.save(DeviceConfig(A, {}), overwrite=True),
        repository.delete(A),
        repository.check(),
        repository.check_writes(),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable) as caught:
            await call
        assert caught.value.failure is StorageFailure.DIRECTORY_MISSING


async def test_file_in_place_of_the_directory_is_reported(tmp_path: Path) -> None:
    (tmp_path / "configs").write_text("not a directory")
    repository = FilesystemDeviceConfigRepository(tmp_path / "configs")
    with pytest.raises(StorageUnavailable) as caught:
        await repository.check()
    assert caught.value.failure is StorageFailure.NOT_A_DIRECTORY
    with pytest.raises(StorageUnavailable):
        await repository.save(DeviceConfig(A, {}), overwrite=True)
    assert (tmp_path / "configs").read_text() == "not a directory"


async def test_directory_that_comes_back_is_usable_again(tmp_path: Path) -> None:
    directory = tmp_path / "configs"
    repository = FilesystemDeviceConfigRepository(directory)
    with pytest.raises(StorageUnavailable):
        await repository.check()
    directory.mkdir()
    await repository.check()


def fail_with(code: int) -> Any:
    def fail(*_: object, **__: object) -> None:
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        (errno.ENOSPC, StorageFailure.DISK_FULL),
        (errno.EDQUOT, StorageFailure.DISK_FULL),
        (errno.EROFS, StorageFailure.READ_ONLY),
        (errno.EACCES, StorageFailure.PERMISSION_DENIED),
        (errno.EIO, StorageFailure.IO_ERROR),
    ],
)
@pytest.mark.parametrize("failing", ["fsync", "replace", "mkstemp"])
async def test_failed_write_keeps_the_previous_file_and_leaves_no_temp_file(
    repository: FilesystemDeviceConfigRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    failure: StorageFailure,
    failing: str,
) -> None:
    await repository.save(DeviceConfig(A, {"version": 1}), overwrite=True)
    before = (tmp_path / "aa-aa-aa-aa-aa-aa.json").read_bytes()
    if failing == "mkstemp":
        monkeypatch.setattr("tempfile.mkstemp", fail_with(code))
    else:
        monkeypatch.setattr(os, failing, fail_with(code))

    with pytest.raises(StorageUnavailable) as caught:
        await repository.save(DeviceConfig(A, {"version": 2}), overwrite=True)

    monkeypatch.undo()
    assert caught.value.failure is failure
    assert (tmp_path / "aa-aa-aa-aa-aa-aa.json").read_bytes() == before
    assert visible_names(tmp_path) == ["aa-aa-aa-aa-aa-aa.json"]


# A file refused with EACCES is that file's problem, not the directory's: see
# test_a_file_that_may_not_be_read_is_corrupt_not_a_storage_failure.
@pytest.mark.parametrize(("code", "failure"), [(errno.EIO, StorageFailure.IO_ERROR)])
async def test_unreadable_file_fails_get_but_not_the_listing(
    repository: FilesystemDeviceConfigRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    failure: StorageFailure,
) -> None:
    await repository.save(DeviceConfig(A, {}), overwrite=True)
    await repository.save(DeviceConfig(B, {}), overwrite=True)
    real_open = os.open

    def open_failing_for_a(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith("aa-aa-aa-aa-aa-aa.json"):
            raise OSError(code, os.strerror(code))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_failing_for_a)

    with pytest.raises(StorageUnavailable) as caught:
        await repository.get(A)
    assert caught.value.failure is failure
    listing = await repository.list_summaries()
    assert [s.mac_address for s in listing.summaries] == [B]
    assert [s.problem for s in listing.skipped] == [FileProblem.UNREADABLE]


@pytest.mark.parametrize(
    ("code", "failure"),
    [(errno.EROFS, StorageFailure.READ_ONLY), (errno.EACCES, StorageFailure.PERMISSION_DENIED)],
)
async def test_failed_delete_keeps_the_file(
    repository: FilesystemDeviceConfigRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    failure: StorageFailure,
) -> None:
    await repository.save(DeviceConfig(A, {}), overwrite=True)
    monkeypatch.setattr(os, "unlink", fail_with(code))
    with pytest.raises(StorageUnavailable) as caught:
        await repository.delete(A)
    monkeypatch.undo()
    assert caught.value.failure is failure
    assert (tmp_path / "aa-aa-aa-aa-aa-aa.json").exists()


def test_concurrent_create_only_saves_have_exactly_one_winner(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path)
    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def create(writer: int) -> None:
        barrier.wait()
        try:
            # Each thread drives the repository from an event loop of its own, as replicas would.
            asyncio.run(repository.save(DeviceConfig(A, {"writer": writer}), overwrite=False))
            outcomes.append(f"created {writer}")
        except DeviceConfigExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [o for o in outcomes if o.startswith("created")]
    assert len(winners) == 1
    assert outcomes.count("exists") == 19
    winner = int(winners[0].split()[1])
    assert json.loads((tmp_path / "aa-aa-aa-aa-aa-aa.json").read_text()) == {"writer": winner}
    assert visible_names(tmp_path) == ["aa-aa-aa-aa-aa-aa.json"]


async def test_delete_of_missing_device_is_not_found(
    repository: FilesystemDeviceConfigRepository,
) -> None:
    with pytest.raises(DeviceConfigNotFound):
        await repository.delete(A)


async def test_create_directory_makes_missing_parents(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "esp32-configs"
    repository = FilesystemDeviceConfigRepository(directory)
    repository.create_directory()
    assert directory.is_dir()
    await repository.check()
    await repository.save(DeviceConfig(MacAddress.parse("aa-bb-cc-dd-ee-ff"), {"a": 1}))
    assert json.loads((directory / "aa-bb-cc-dd-ee-ff.json").read_bytes()) == {"a": 1}


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_stale_temp_files_are_swept_and_fresh_ones_kept(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path, stale_temp_seconds=60)
    stale = tmp_path / ".aa-aa-aa-aa-aa-aa.json.k3j_x9a2.tmp"
    fresh = tmp_path / ".bb-bb-bb-bb-bb-bb.json.p0q1r2s3.tmp"
    someone_elses = tmp_path / ".aa-aa-aa-aa-aa-aa.json.swp"
    for path in (stale, fresh, someone_elses):
        path.write_text('{"half": ')
    age(stale, 61)
    age(someone_elses, 10_000)

    assert repository.sweep_stale_temp_files() == 1

    assert not stale.exists()
    assert fresh.exists()
    assert someone_elses.exists()


async def test_listing_sweeps_stale_temp_files_too(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path, stale_temp_seconds=60)
    stale = tmp_path / ".aa-aa-aa-aa-aa-aa.json.abcdefgh.tmp"
    stale.write_text("{")
    age(stale, 3600)
    listing = await repository.list_summaries()
    assert listing.summaries == ()
    assert listing.skipped == ()
    assert not stale.exists()


def test_temp_file_names_match_the_sweep_pattern(tmp_path: Path) -> None:
    """The sweep recognises exactly what a save creates, or it would sweep nothing."""
    seen: list[str] = []
    real_replace = os.replace

    def spy(source: Any, target: Any) -> None:
        seen.append(Path(source).name)
        real_replace(source, target)

    repository = FilesystemDeviceConfigRepository(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", spy)
        asyncio.run(repository.save(DeviceConfig(A, {}), overwrite=True))
    assert len(seen) == 1
    assert TEMP_NAME.fullmatch(seen[0])


# The listing cache: never stale, and no rereading of what has not changed


@pytest.fixture
def settled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust signatures immediately, so these tests exercise the signature itself rather than
    the re-read-what-changed-recently rule."""
    monkeypatch.setattr(files, "SETTLED_NS", -(10**12))


def names_read(
    repository: FilesystemDeviceConfigRepository, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    reads: list[str] = []
    real = files.read

    def counting(path: str, mac_address: MacAddress, limit: int) -> Any:
        reads.append(str(mac_address))
        return real(path, mac_address, limit)

    monkeypatch.setattr(files, "read", counting)
    return reads


@pytest.mark.usefixtures("settled_at_once")
async def test_an_unchanged_listing_reads_no_file_again(
    repository: FilesystemDeviceConfigRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await repository.save(DeviceConfig(A, {"deviceName": "a"}))
    await repository.save(DeviceConfig(B, {"deviceName": "b"}))
    first = await repository.list_summaries()
    reads = names_read(repository, monkeypatch)
    second = await repository.list_summaries()
    assert reads == []
    assert second is first


@pytest.mark.usefixtures("settled_at_once")
async def test_an_in_place_edit_with_the_same_size_and_mtime_is_seen(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await repository.save(DeviceConfig(A, {"deviceName": "aaaa"}))
    await repository.save(DeviceConfig(B, {"deviceName": "bbbb"}))
    await repository.list_summaries()
    path = tmp_path / f"{A}.json"
    before = path.stat()
    with path.open("r+b") as stream:  # same inode, same size
        stream.write(path.read_bytes().replace(b"aaaa", b"cccc"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back
    reads = names_read(repository, monkeypatch)

    listing = await repository.list_summaries()

    assert [s.device_name for s in listing.summaries] == ["cccc", "bbbb"]
    assert reads == [str(A)]


async def test_files_changed_in_the_last_seconds_are_always_read_again(
    repository: FilesystemDeviceConfigRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await repository.save(DeviceConfig(A, {"deviceName": "a"}))
    await repository.list_summaries()
    reads = names_read(repository, monkeypatch)
    await repository.list_summaries()
    assert reads == [str(A)]


@pytest.mark.usefixtures("settled_at_once")
async def test_a_validated_document_is_not_parsed_again_until_it_changes(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}))
    parsed: list[bytes] = []
    real_decode = codec.decode

    def counting(mac_address: MacAddress, body: bytes) -> Any:
        parsed.append(body)
        return real_decode(mac_address, body)

    monkeypatch.setattr("adapters.filesystem.repository.decode", counting)
    await repository.get_document(A)
    await repository.get_document(A)
    assert len(parsed) == 1

    path = tmp_path / f"{A}.json"
    path.write_bytes(b"[1]" + b" " * (path.stat().st_size - 3))  # same size, now invalid
    with pytest.raises(CorruptDeviceConfig):
        await repository.get_document(A)


@pytest.mark.parametrize(
    ("size", "expected", "limit", "read"),
    [
        (900, 900, 4097, 900),  # the usual case: fstat's size is the size
        (200_000, 10, 300_001, 200_000),  # the file grew after fstat: read on to its end
        (200_000, 10, 70_001, 70_001),  # ...but never past the limit
        (0, 0, 4097, 0),
    ],
)
def test_a_read_takes_the_whole_file_up_to_the_limit(
    tmp_path: Path, size: int, expected: int, limit: int, read: int
) -> None:
    path = tmp_path / "file"
    content = os.urandom(size)
    path.write_bytes(content)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert files.read_all(fd, expected, limit) == content[:read]
    finally:
        os.close(fd)


def test_the_lock_file_of_a_mac_is_fixed_by_the_on_disk_format() -> None:
    # Replicas of different versions must lock the same file for a config: changing the
    # stripe function or count is a change of the on-disk format, not a refactoring.
    assert lock_files.LOCK_STRIPES == 256
    assert lock_files.lock_file_name(MacAddress("aa-bb-cc-dd-ee-ff")) == ("stripe-225.lock")
    assert lock_files.lock_file_name(MacAddress("00-00-00-00-00-01")) == ("stripe-140.lock")


async def test_the_lock_files_stay_a_fixed_set_whatever_the_fleet_does(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path)
    macs = [MacAddress(f"02-00-00-00-{i // 256:02x}-{i % 256:02x}") for i in range(600)]
    for mac in macs:
        await repository.save(DeviceConfig(mac, {"v": 1}))
    for mac in macs[::2]:
        await repository.delete(mac)
    locks = os.listdir(tmp_path / lock_files.LOCK_DIRECTORY)
    assert len(locks) <= lock_files.LOCK_STRIPES
    assert set(locks) == {lock_files.lock_file_name(mac) for mac in macs}
    assert len(visible_names(tmp_path)) == 300


async def test_a_lock_file_of_an_earlier_build_is_honoured_while_it_exists(
    tmp_path: Path,
) -> None:
    # An old replica, mid-write during a rolling update, holds `.locks/<mac>.lock`.
    repository = FilesystemDeviceConfigRepository(tmp_path)
    await repository.save(DeviceConfig(A, {"v": 1}))
    legacy = tmp_path / lock_files.LOCK_DIRECTORY / f"{A}.lock"
    legacy.touch()
    with legacy.open("r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        save = threading.Thread(
            target=lambda: asyncio.run(repository.save(DeviceConfig(A, {"v": 2})))
        )
        save.start()
        save.join(timeout=0.5)
        assert save.is_alive(), "the save went ahead while the old replica held its lock"
        assert json.loads((tmp_path / f"{A}.json").read_bytes()) == {"v": 1}
    save.join(timeout=10)
    assert not save.is_alive()
    assert json.loads((tmp_path / f"{A}.json").read_bytes()) == {"v": 2}


async def test_a_write_creates_no_lock_file_of_an_earlier_build(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path)
    await repository.save(DeviceConfig(A, {"v": 1}))
    await repository.delete(A)
    locks = os.listdir(tmp_path / lock_files.LOCK_DIRECTORY)
    assert locks == [lock_files.lock_file_name(A)]


# Bounds: what is stored can be served, and a stuck writer cannot wedge writes.


async def test_a_config_whose_stored_form_is_over_the_limit_is_refused(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path, max_file_bytes=1000)
    await repository.save(DeviceConfig(A, {"small": True}), overwrite=True)
    before = (tmp_path / "aa-aa-aa-aa-aa-aa.json").read_bytes()
    with pytest.raises(DeviceConfigTooLarge):
        await repository.save(DeviceConfig(A, {"big": "x" * 1000}), overwrite=True)
    assert (tmp_path / "aa-aa-aa-aa-aa-aa.json").read_bytes() == before
    assert entries(tmp_path) == ["aa-aa-aa-aa-aa-aa.json"]


async def test_a_config_nested_past_the_limit_is_refused(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    content: Any = {}
    for _ in range(64):
        content = {"a": content}
    with pytest.raises(InvalidDeviceConfig, match="deeper than 64"):
        await repository.save(DeviceConfig(A, content), overwrite=True)
    assert entries(tmp_path) == []


async def test_a_lock_held_past_the_deadline_refuses_the_write(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path, lock_timeout_seconds=0.2)
    await repository.save(DeviceConfig(A, {"v": 1}), overwrite=True)
    lock = tmp_path / lock_files.LOCK_DIRECTORY / lock_files.lock_file_name(A)
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # flock locks belong to the open file: this one conflicts
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            await repository.save(DeviceConfig(A, {"v": 2}), overwrite=True)
        assert time.monotonic() - started < 2
        assert caught.value.failure is StorageFailure.LOCKED
        assert caught.value.retry_after_seconds == 1
        with pytest.raises(StorageUnavailable):
            await repository.delete(A)
    finally:
        os.close(fd)
    assert (await repository.get(A)).config.content == {"v": 1}


async def test_a_write_held_up_in_this_process_past_the_deadline_refuses_the_next(
    tmp_path: Path,
) -> None:
    """Writers of one config in one process queue in memory before the file lock; the
    deadline holds there too."""
    repository = FilesystemDeviceConfigRepository(tmp_path, lock_timeout_seconds=0.2)
    await repository.save(DeviceConfig(A, {"v": 1}), overwrite=True)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with repository._locks.held(A):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        with pytest.raises(StorageUnavailable) as caught:
            await repository.save(DeviceConfig(A, {"v": 2}), overwrite=True)
        assert caught.value.failure is StorageFailure.LOCKED
    finally:
        release.set()
        holder.join()
    assert (await repository.get(A)).config.content == {"v": 1}
    await repository.save(DeviceConfig(A, {"v": 3}), overwrite=True)


def test_writers_of_one_config_in_one_process_wait_in_line_without_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a writer in another process makes `flock` refuse: threads of this one wait on
    the lock in memory (each refused try is a wake-up and a system call, then a sleep)."""
    repository = FilesystemDeviceConfigRepository(tmp_path)
    real_flock = fcntl.flock
    refused = []

    def counting_flock(fd: int, operation: int) -> None:
        try:
            real_flock(fd, operation)
        except BlockingIOError:
            refused.append(fd)
            raise

    monkeypatch.setattr(fcntl, "flock", counting_flock)

    def save_ten(index: int) -> None:
        for round_ in range(10):
            config = DeviceConfig(A, {"writer": index, "round": round_})
            asyncio.run(repository.save(config, overwrite=True))

    threads = [threading.Thread(target=save_ten, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert refused == []
    assert set(json.loads((tmp_path / f"{A}.json").read_bytes())) == {"writer", "round"}


async def test_a_file_that_may_not_be_read_is_corrupt_not_a_storage_failure(
    repository: FilesystemDeviceConfigRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mode 000 (root reads it anyway, so the refusal is injected at `open`)."""
    await repository.save(DeviceConfig(A, {"v": 1}), overwrite=True)
    real_open = os.open

    def refuse_config_files(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith(".json"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse_config_files)
    with pytest.raises(CorruptDeviceConfig) as caught:
        await repository.get(A)
    assert caught.value.problem is FileProblem.UNREADABLE
    assert "permission denied" in caught.value.message
    await repository.check()  # the directory itself is fine: health stays healthy


async def test_a_failing_storage_check_is_logged_once_per_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "configs"
    repository = FilesystemDeviceConfigRepository(directory)
    with caplog.at_level(logging.INFO, logger="adapters.filesystem"):
        for _ in range(3):  # probes every few seconds while it is missing
            with pytest.raises(StorageUnavailable):
                await repository.check()
        directory.mkdir()
        for _ in range(3):
            await repository.check()
    logged = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in logged] == ["ERROR", "INFO"]
    assert "does not exist" in logged[0][1]
    assert "No such file or directory" in logged[0][1]
    assert logged[1][1] == f"the configs directory {directory} is usable again"
