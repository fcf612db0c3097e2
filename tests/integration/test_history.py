"""History on a real directory: the on-disk layout, what each write records, and that a failed
or refused write records nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from adapters.filesystem import FilesystemDeviceConfigRepository
from adapters.filesystem.history import (
    HISTORY_DIRECTORY,
    REVISION_NAME,
    RevisionLog,
    revision_names,
)
from domain.errors import DeviceConfigExists, DeviceConfigNotFound, PreconditionFailed
from domain.history import Operation, WriteOrigin
from domain.model import ConfigDocument, DeviceConfig, MacAddress, WriteCondition
from tests.files import history_entries

A = MacAddress("aa-aa-aa-aa-aa-aa")
B = MacAddress("bb-bb-bb-bb-bb-bb")
ORIGIN = WriteOrigin(client="192.0.2.7", user=None, correlation_id="req-1")


@pytest.fixture
def repository(tmp_path: Path) -> FilesystemDeviceConfigRepository:
    return FilesystemDeviceConfigRepository(tmp_path)


def prepared_files(tmp_path: Path) -> list[str]:
    """Revisions left prepared beside the configs (none once every write is recorded)."""
    return sorted(name for name in os.listdir(tmp_path) if name.endswith(".revision"))


def stored(tmp_path: Path, mac: MacAddress) -> bytes:
    return (tmp_path / f"{mac}.json").read_bytes()


async def operations(repository: FilesystemDeviceConfigRepository, mac: MacAddress) -> list[str]:
    history = await repository.history(mac, limit=1000)
    return [revision.operation.value for revision in history.revisions]


async def test_the_layout_is_one_file_per_revision_header_line_then_the_stored_bytes(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    """The on-disk format (documented in ARCHITECTURE.md): pinned here."""
    await repository.save(DeviceConfig(A, {"v": 1}), origin=ORIGIN)
    assert history_entries(tmp_path) == [f"{A}/000000000001.rev"]
    raw = (tmp_path / HISTORY_DIRECTORY / str(A) / "000000000001.rev").read_bytes()
    header, _, body = raw.partition(b"\n")
    assert body == stored(tmp_path, A)
    meta = json.loads(header)
    assert meta == {
        "revision": "000000000001",
        "operation": "save",
        "saved_at": meta["saved_at"],
        "etag": ConfigDocument(A, body, 0).revision,
        "size": len(body),
        "client": "192.0.2.7",
        "correlation_id": "req-1",
    }


async def test_every_write_is_recorded_newest_first_with_who_asked(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}), origin=ORIGIN)
    await repository.update(A, lambda c: DeviceConfig(A, {**c.content, "v": 2}), origin=ORIGIN)
    last_content = stored(tmp_path, A)
    await repository.delete(A, origin=WriteOrigin(correlation_id="req-3"))
    history = await repository.history(A, limit=10)
    assert [r.operation for r in history.revisions] == [
        Operation.DELETE,
        Operation.PATCH,
        Operation.SAVE,
    ]
    assert [r.revision for r in history.revisions] == [
        "000000000003",
        "000000000002",
        "000000000001",
    ]
    deleted = history.revisions[0]
    assert (deleted.size, deleted.origin.correlation_id) == (0, "req-3")
    # The deleted content stays recoverable: the delete names it, the patch holds it.
    assert deleted.etag == history.revisions[1].etag == ConfigDocument(A, last_content, 0).revision
    assert history.current is None  # deleted


async def test_a_version_written_by_another_program_is_kept_before_the_next_write(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}))
    (tmp_path / f"{A}.json").write_text('{"edited": "by hand"}\n')
    await repository.save(DeviceConfig(A, {"v": 2}))
    history = await repository.history(A, limit=10)
    assert [r.operation for r in history.revisions] == [
        Operation.SAVE,
        Operation.EXTERNAL,
        Operation.SAVE,
    ]
    external = history.revisions[1]
    expected = ConfigDocument(A, b'{"edited": "by hand"}\n', 0).revision
    assert (external.etag, external.origin) == (expected, WriteOrigin())
    assert history.current == history.revisions[0].revision


async def test_a_config_that_predates_history_is_kept_at_its_first_write(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    (tmp_path / f"{A}.json").write_text('{"old": true}\n')
    assert (await repository.history(A, limit=10)).revisions == ()
    await repository.save(DeviceConfig(A, {"new": True}))
    assert await operations(repository, A) == ["save", "external"]


async def test_refused_writes_record_nothing(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}))
    with pytest.raises(DeviceConfigExists):
        await repository.save(DeviceConfig(A, {"v": 2}), overwrite=False)
    with pytest.raises(PreconditionFailed):
        await repository.save(
            DeviceConfig(A, {"v": 3}), condition=WriteCondition(revision_in=frozenset({"x"}))
        )
    with pytest.raises(DeviceConfigNotFound):
        await repository.delete(B)
    assert history_entries(tmp_path) == [f"{A}/000000000001.rev"]


async def test_no_config_and_no_history_is_not_found(
    repository: FilesystemDeviceConfigRepository,
) -> None:
    with pytest.raises(DeviceConfigNotFound):
        await repository.history(B, limit=10)


async def test_pages_go_back_in_time(repository: FilesystemDeviceConfigRepository) -> None:
    for version in range(5):
        await repository.save(DeviceConfig(A, {"v": version}))
    first = await repository.history(A, limit=2)
    assert [r.revision for r in first.revisions] == ["000000000005", "000000000004"]
    assert first.current == "000000000005"
    second = await repository.history(A, limit=2, before=first.revisions[-1].revision)
    assert [r.revision for r in second.revisions] == ["000000000003", "000000000002"]


async def test_a_revision_prepared_by_a_write_that_crashed_is_committed_by_the_next(
    tmp_path: Path,
) -> None:
    """A crash between the config's rename and the revision's commit leaves the revision under
    its temp name: the next write commits it, with its own operation, instead of calling the
    version external."""
    repository = FilesystemDeviceConfigRepository(tmp_path)
    await repository.save(DeviceConfig(A, {"v": 1}))
    log = RevisionLog(tmp_path)
    body = b'{\n  "v": 2\n}\n'
    names = log.catch_up(A, None)
    log.prepare(A, Operation.PATCH, ConfigDocument(A, body, 0), ORIGIN, names=names)  # no commit
    (tmp_path / f"{A}.json").write_bytes(body)  # the config's rename happened
    await repository.save(DeviceConfig(A, {"v": 3}))
    assert await operations(repository, A) == ["save", "patch", "save"]
    assert not prepared_files(tmp_path)


async def test_a_delete_that_crashed_before_its_unlink_is_never_recorded(tmp_path: Path) -> None:
    """Its prepared revision names the bytes it was to delete, which the config still holds:
    only a config that is gone makes a prepared delete a revision."""
    repository = FilesystemDeviceConfigRepository(tmp_path)
    stored_config = await repository.save(DeviceConfig(A, {"v": 1}))
    log = RevisionLog(tmp_path)
    log.prepare(
        A,
        Operation.DELETE,
        None,
        ORIGIN,
        names=log.catch_up(A, stored_config.document),
        deleted=stored_config.document,
    )  # killed here: the config was never unlinked
    assert [r.operation.value for r in (await repository.history(A, limit=9)).revisions] == ["save"]
    await repository.save(DeviceConfig(A, {"v": 2}))
    assert await operations(repository, A) == ["save", "save"]
    assert not prepared_files(tmp_path)

    log.prepare(
        A,
        Operation.DELETE,
        None,
        ORIGIN,
        names=log.catch_up(A, None),
        deleted=(await repository.get(A)).document,
    )
    (tmp_path / f"{A}.json").unlink()  # the unlink happened, the commit did not
    assert await operations(repository, A) == ["delete", "save", "save"]


async def test_reading_history_after_such_a_crash_commits_the_revision_first(
    tmp_path: Path,
) -> None:
    """No reader ever sees a config that disagrees with its newest revision: the read finds
    the crashed write's revision and commits it under the lock. An edit by another program is
    still left for the next write to record."""
    repository = FilesystemDeviceConfigRepository(tmp_path)
    await repository.save(DeviceConfig(A, {"v": 1}))
    log = RevisionLog(tmp_path)
    body = b'{\n  "v": 2\n}\n'
    log.prepare(A, Operation.PATCH, ConfigDocument(A, body, 0), ORIGIN, names=log.catch_up(A, None))
    (tmp_path / f"{A}.json").write_bytes(body)
    history = await repository.history(A, limit=10)
    assert [r.operation.value for r in history.revisions] == ["patch", "save"]
    assert history.current == history.revisions[0].revision
    assert not prepared_files(tmp_path)

    (tmp_path / f"{A}.json").write_bytes(b'{"by": "hand"}\n')
    history = await repository.history(A, limit=10)
    assert ([r.operation.value for r in history.revisions], history.current) == (
        ["patch", "save"],
        None,
    )


async def test_a_torn_prepared_revision_is_never_committed(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path)
    await repository.save(DeviceConfig(A, {"v": 1}))
    body = b'{\n  "v": 2\n}\n'
    log = RevisionLog(tmp_path)
    names = log.catch_up(A, None)
    prepared = log.prepare(A, Operation.SAVE, ConfigDocument(A, body, 0), ORIGIN, names=names)
    assert prepared is not None
    os.truncate(prepared.temp_name, os.path.getsize(prepared.temp_name) - 3)
    (tmp_path / f"{A}.json").write_bytes(body)
    await repository.save(DeviceConfig(A, {"v": 3}))
    assert await operations(repository, A) == ["save", "external", "save"]
    assert not prepared_files(tmp_path)


async def test_retention_keeps_the_newest_n_but_never_the_newest_delete(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path, history_max_revisions=3)
    await repository.save(DeviceConfig(A, {"v": 0}))
    await repository.delete(A)
    for version in range(1, 5):
        await repository.save(DeviceConfig(A, {"v": version}))
    history = await repository.history(A, limit=100)
    assert [r.operation.value for r in history.revisions] == ["save", "save", "save", "delete"]
    assert [r.revision for r in history.revisions] == [
        "000000000006",
        "000000000005",
        "000000000004",
        "000000000002",
    ]


async def test_retention_by_age_spares_the_newest(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path, history_max_age_days=1)
    for version in range(3):
        await repository.save(DeviceConfig(A, {"v": version}))
    old = time.time() - 3 * 86400
    for name in history_entries(tmp_path):
        os.utime(tmp_path / HISTORY_DIRECTORY / name, (old, old))
    await repository.save(DeviceConfig(A, {"v": 3}))
    assert [r.revision for r in (await repository.history(A, limit=100)).revisions] == [
        "000000000004"
    ]
    await repository.save(DeviceConfig(A, {"v": 4}))
    assert await operations(repository, A) == ["save", "save"]


def bytes_on_disk(tmp_path: Path) -> int:
    return sum(path.stat().st_size for path in (tmp_path / HISTORY_DIRECTORY).rglob("*.rev"))


async def test_the_measured_size_follows_every_change_of_the_share(tmp_path: Path) -> None:
    log = RevisionLog(tmp_path)
    repository = FilesystemDeviceConfigRepository(tmp_path)
    assert log.stats().bytes_on_disk is None
    log.measure()
    assert log.stats().bytes_on_disk == 0  # no history yet
    await repository.save(DeviceConfig(A, {"v": 1}))
    await repository.save(DeviceConfig(B, {"v": 1}))
    log.measure()
    assert log.stats().bytes_on_disk == bytes_on_disk(tmp_path) > 0
    # Changes made within the clock's tick of the last survey, by another process: seen, as
    # a directory changed this recently is walked again rather than trusted.
    await repository.save(DeviceConfig(A, {"v": 2, "more": "x" * 500}))
    await repository.delete(B)
    log.measure()
    assert log.stats().bytes_on_disk == bytes_on_disk(tmp_path)
    # Directories gone from the share are forgotten.
    for path in sorted((tmp_path / HISTORY_DIRECTORY / str(B)).iterdir()):
        path.unlink()
    (tmp_path / HISTORY_DIRECTORY / str(B)).rmdir()
    log.measure()
    assert log.stats().bytes_on_disk == bytes_on_disk(tmp_path)


async def test_deleted_configs_come_from_each_historys_newest_revision(tmp_path: Path) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path)
    for mac in (A, B):
        await repository.save(DeviceConfig(mac, {"v": 1}))
        await repository.delete(mac)
    assert [item.mac_address for item in await repository.deleted()] == [B, A]
    (tmp_path / HISTORY_DIRECTORY / "not-a-mac").mkdir()
    (tmp_path / HISTORY_DIRECTORY / "cc-cc-cc-cc-cc-cc").write_text("a file, not a directory")
    history = await repository.history(A, limit=2)
    await repository.restore(A, history.revisions[1].revision)
    assert [item.mac_address for item in await repository.deleted()] == [B]
    assert (await repository.deleted())[0].revision == (
        await repository.history(B, limit=1)
    ).revisions[0].revision


async def test_with_history_off_writes_record_nothing_and_keep_what_is_there(
    tmp_path: Path,
) -> None:
    await FilesystemDeviceConfigRepository(tmp_path).save(DeviceConfig(A, {"v": 1}))
    kept = history_entries(tmp_path)
    off = FilesystemDeviceConfigRepository(tmp_path, history=False)
    await off.save(DeviceConfig(A, {"v": 2}))
    await off.delete(A)
    await off.save(DeviceConfig(B, {"v": 1}))
    assert history_entries(tmp_path) == kept
    with pytest.raises(DeviceConfigNotFound):
        await off.revision(A, "000000000001")


async def test_a_commit_storage_refuses_after_the_config_was_written_does_not_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config is stored and its revision fsynced under its temp name: the write is
    answered as done, and the next read of the history commits the revision."""
    repository = FilesystemDeviceConfigRepository(tmp_path)
    await repository.save(DeviceConfig(A, {"v": 1}))

    refused = []

    def refuse(*_: object) -> None:
        refused.append(True)
        raise OSError(28, "No space left on device")

    # The commit's rename (the config's own write uses os.replace, left alone).
    with monkeypatch.context() as patched:
        patched.setattr("adapters.filesystem.history.os.rename", refuse)
        stored = await repository.save(DeviceConfig(A, {"v": 2}))
    assert refused
    assert json.loads((tmp_path / f"{A}.json").read_bytes()) == {"v": 2}
    assert prepared_files(tmp_path) == [f".{A}.revision"]
    history = await repository.history(A, limit=10)
    assert [r.operation.value for r in history.revisions] == ["save", "save"]
    assert history.revisions[0].etag == stored.document.revision
    assert history.current == history.revisions[0].revision
    assert prepared_files(tmp_path) == []


async def test_writers_in_two_processes_number_revisions_in_turn_and_lose_none(
    tmp_path: Path,
) -> None:
    """Each process keeps the tail of the histories it wrote (their numbers and newest
    revision) instead of listing them at every write; a write by another process since must
    be seen, or its revision would be overwritten by the next number."""
    first = FilesystemDeviceConfigRepository(tmp_path)
    second = FilesystemDeviceConfigRepository(tmp_path)
    written = []
    for index in range(6):
        writer = (first, second)[index % 2]
        written.append((await writer.save(DeviceConfig(A, {"v": index}))).document.revision)
    await first.delete(A)
    await second.save(DeviceConfig(A, {"v": "back"}))
    history = await FilesystemDeviceConfigRepository(tmp_path).history(A, limit=100)
    assert [r.revision for r in reversed(history.revisions)] == [f"{n:012d}" for n in range(1, 9)]
    assert [r.operation.value for r in reversed(history.revisions)] == [
        *["save"] * 6,
        "delete",
        "save",
    ]
    assert [r.etag for r in reversed(history.revisions)][:6] == written


async def test_an_edit_by_another_program_after_a_kept_tail_is_still_recorded(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}))
    await repository.save(DeviceConfig(A, {"v": 2}))
    (tmp_path / f"{A}.json").write_text('{"edited": "by hand"}\n')
    await repository.save(DeviceConfig(A, {"v": 3}))
    assert await operations(repository, A) == ["save", "external", "save", "save"]


async def test_a_history_removed_by_hand_between_writes_is_made_again(
    repository: FilesystemDeviceConfigRepository, tmp_path: Path
) -> None:
    await repository.save(DeviceConfig(A, {"v": 1}))
    await repository.save(DeviceConfig(A, {"v": 2}))
    directory = tmp_path / HISTORY_DIRECTORY / str(A)
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    stored_now = await repository.save(DeviceConfig(A, {"v": 3}))
    history = await repository.history(A, limit=10)
    assert history.revisions[0].etag == stored_now.document.revision
    assert history.current == history.revisions[0].revision
    assert prepared_files(tmp_path) == []


async def test_the_tails_kept_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("adapters.filesystem.history.KEPT_TAILS", 3)
    repository = FilesystemDeviceConfigRepository(tmp_path)
    log = repository._history
    macs = [MacAddress(f"02-00-00-00-00-{i:02x}") for i in range(5)]
    for mac in macs:
        await repository.save(DeviceConfig(mac, {"v": 1}))
    assert list(log._tails) == [log._directory(mac) for mac in macs[-3:]]


async def test_a_page_asked_again_is_the_same_until_anything_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept while the directory's signature and the stored bytes are unchanged (treated as
    settled here, as they are 2 s after a write); any write, an edit by another program, a
    crashed write's leftovers or the history's removal is seen at once."""
    monkeypatch.setattr("adapters.filesystem.history.settled", lambda *_: True)
    repository = FilesystemDeviceConfigRepository(tmp_path)
    await repository.save(DeviceConfig(A, {"v": 1}))
    first = await repository.history(A, limit=10)
    assert await repository.history(A, limit=10) is first
    assert await repository.history(A, limit=1) is not first  # another page, kept apart

    await repository.save(DeviceConfig(A, {"v": 2}))
    second = await repository.history(A, limit=10)
    assert [r.revision for r in second.revisions] == ["000000000002", "000000000001"]

    (tmp_path / f"{A}.json").write_text('{"by": "hand"}\n')  # the directory is unchanged
    edited = await repository.history(A, limit=10)
    assert (edited.current, second.current) == (None, "000000000002")

    for path in sorted((tmp_path / HISTORY_DIRECTORY / str(A)).iterdir()):
        path.unlink()
    (tmp_path / HISTORY_DIRECTORY / str(A)).rmdir()
    (tmp_path / f"{A}.json").unlink()
    with pytest.raises(DeviceConfigNotFound):
        await repository.history(A, limit=10)


async def test_a_page_read_within_the_clock_tick_of_a_change_is_read_again(
    tmp_path: Path,
) -> None:
    repository = FilesystemDeviceConfigRepository(tmp_path)
    await repository.save(DeviceConfig(A, {"v": 1}))
    first = await repository.history(A, limit=10)
    # Just written: the signature is not trusted yet, so the page is read again.
    assert await repository.history(A, limit=10) is not first
    assert await repository.history(A, limit=10) == first


def test_only_revision_names_are_revisions() -> None:
    """The inline test that every write runs over its history's names agrees with the
    documented pattern, foreign and look-alike names included."""
    entries = [
        "000000000002.rev",
        "000000000001.rev",
        "x00000000001.rev",
        "00000000001.rev",
        "000000000003.revx",
        ".000000000004.rev",
        "\uff10" * 12 + ".rev",  # fullwidth digits: digits to str.isdigit, not to the format
        "000000000005.rev.tmp",
    ]
    assert revision_names(entries) == ["000000000001.rev", "000000000002.rev"]
    assert revision_names(entries) == sorted(n for n in entries if REVISION_NAME.fullmatch(n))
