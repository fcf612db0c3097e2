"""Device check-ins on a real directory: the file format, the refresh rule, replicas adding up,
the cap on unknown devices, forgetting, restarts, and files that are not ours."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from adapters.filesystem.checkins import CHECKIN_DIRECTORY, FilesystemCheckInLog
from domain.checkins import CheckIn
from domain.model import MacAddress

A = MacAddress("aa-aa-aa-aa-aa-aa")
B = MacAddress("bb-bb-bb-bb-bb-bb")


def check_in(
    mac: MacAddress = A, *, at: float | None = None, etag: str | None = "e1", status: int = 200
) -> CheckIn:
    return CheckIn(mac, time.time() if at is None else at, status, etag, "192.0.2.7", "esp/1")


def files(tmp_path: Path) -> list[str]:
    root = tmp_path / CHECKIN_DIRECTORY
    return sorted(os.listdir(root)) if root.exists() else []


async def test_a_flush_writes_one_small_file_per_device_in_the_documented_format(
    tmp_path: Path,
) -> None:
    log = FilesystemCheckInLog(tmp_path)
    log.record(check_in(at=100.0))
    log.record(check_in(at=130.0, status=304))
    log.record(check_in(B, at=120.0, etag=None, status=404))
    assert files(tmp_path) == []  # recording alone does no I/O
    await log.flush()
    assert files(tmp_path) == [f"{A}.json", f"{B}.json"]
    stored = json.loads((tmp_path / CHECKIN_DIRECTORY / f"{A}.json").read_bytes())
    written_at = stored.pop("written_at")
    assert abs(written_at - time.time()) < 60
    assert stored == {
        "mac_address": str(A),
        "last_seen_at": 130.0,
        "last_status": 304,
        "device_etag": "e1",
        "client": "192.0.2.7",
        "user_agent": "esp/1",
        "recent": [100.0, 130.0],
    }
    assert log.stats().recorded == 3
    assert log.stats().written == 2


async def test_an_unchanged_device_is_rewritten_only_once_per_refresh_period(
    tmp_path: Path,
) -> None:
    log = FilesystemCheckInLog(tmp_path, refresh_seconds=3600)
    for _ in range(5):
        log.record(check_in(status=304))
        await log.flush()
    assert log.stats().written == 1
    # What was held back still counts here: the newest check-in and its time.
    seen = (await log.records())[A]
    assert len(seen.recent) == 5
    log.record(check_in(etag="e2"))  # the device holds another version: written at once
    await log.flush()
    assert log.stats().written == 2
    stored = json.loads((tmp_path / CHECKIN_DIRECTORY / f"{A}.json").read_bytes())
    assert (stored["device_etag"], len(stored["recent"])) == ("e2", 6)


async def test_past_the_refresh_period_the_file_is_written_again(tmp_path: Path) -> None:
    log = FilesystemCheckInLog(tmp_path, refresh_seconds=0.2)
    log.record(check_in(status=304))
    await log.flush()
    await asyncio.sleep(0.3)
    log.record(check_in(status=304))
    await log.flush()
    assert log.stats().written == 2


async def test_replicas_add_up_and_an_older_check_in_never_hides_a_newer(tmp_path: Path) -> None:
    first, second = FilesystemCheckInLog(tmp_path), FilesystemCheckInLog(tmp_path)
    first.record(check_in(at=200.0, etag="new"))
    await first.flush()
    assert (await second.records())[A].device_etag == "new"
    second.record(check_in(at=150.0, etag="old"))
    await second.flush()
    merged = (await FilesystemCheckInLog(tmp_path).records())[A]
    assert merged.device_etag == "new"
    assert merged.last_seen_at == 200.0
    second.record(check_in(at=250.0, etag="newer"))
    await second.flush()
    merged = (await first.records())[A]
    assert (merged.device_etag, merged.recent) == ("newer", (200.0, 250.0))


async def test_what_a_replica_wrote_is_read_by_a_restarted_one(tmp_path: Path) -> None:
    log = FilesystemCheckInLog(tmp_path)
    log.record(check_in(at=1.0))
    await log.flush()
    restarted = FilesystemCheckInLog(tmp_path)
    assert (await restarted.record_of(A)) == (await log.records())[A]


async def test_unknown_devices_are_capped_the_oldest_dropped_and_counted(
    tmp_path: Path,
) -> None:
    (tmp_path / f"{A}.json").write_text("{}\n")
    log = FilesystemCheckInLog(tmp_path, max_unknown=100)
    log.record(check_in(A, at=1.0))
    for index in range(5000):
        mac = MacAddress(f"02-00-00-00-{index // 256:02x}-{index % 256:02x}")
        log.record(check_in(mac, at=10.0 + index, etag=None, status=404))
    await log.flush()
    names = files(tmp_path)
    assert len(names) == 101
    assert f"{A}.json" in names  # a device with a config is never dropped as unknown
    assert "02-00-00-00-13-87.json" in names  # the newest unknown (index 4999) stays
    assert "02-00-00-00-00-00.json" not in names
    assert log.stats().dropped == 4900
    # A second burst on another replica: the share stays within the cap.
    other = FilesystemCheckInLog(tmp_path, max_unknown=100)
    for index in range(300):
        mac = MacAddress(f"06-00-00-00-{index // 256:02x}-{index % 256:02x}")
        other.record(check_in(mac, at=100_000.0 + index, etag=None, status=404))
    await other.flush()
    assert len(files(tmp_path)) == 101
    assert len(await log.records()) == 101


async def test_a_flood_beyond_the_pending_bound_is_dropped_and_counted(tmp_path: Path) -> None:
    log = FilesystemCheckInLog(tmp_path, max_pending=10)
    for _ in range(25):
        log.record(check_in())
    assert log.stats().pending == 10
    assert log.stats().dropped == 15


async def test_forgetting_removes_the_devices_file_and_what_waits_to_be_flushed(
    tmp_path: Path,
) -> None:
    log = FilesystemCheckInLog(tmp_path)
    log.record(check_in(at=1.0))
    await log.flush()
    log.record(check_in(at=time.time() - 1))  # recorded before the forget, not flushed yet
    assert await log.forget(A)
    await log.flush()
    # Nothing of the device is left but its forget's mark: the MAC and the moment.
    assert files(tmp_path) == [f"{A}.forgotten"]
    mark = json.loads((tmp_path / CHECKIN_DIRECTORY / f"{A}.forgotten").read_text())
    assert set(mark) == {"mac_address", "forgotten_at"}
    assert mark["mac_address"] == str(A)
    assert await log.record_of(A) is None
    assert await log.records() == {}
    assert not await log.forget(A)
    log.record(check_in())  # the device asks again: seen again
    await log.flush()
    assert await log.record_of(A) is not None


async def test_files_that_are_not_records_are_left_out_and_a_stale_temp_swept(
    tmp_path: Path,
) -> None:
    root = tmp_path / CHECKIN_DIRECTORY
    root.mkdir()
    (root / f"{A}.json").write_text("not json")
    (root / f"{B}.json").write_bytes(b"{" + b" " * 10_000 + b"}")
    (root / "cc-cc-cc-cc-cc-cc.json").symlink_to("/etc/passwd")
    (root / "dd-dd-dd-dd-dd-dd.json").write_text(
        json.dumps(
            {
                "mac_address": "ee-ee-ee-ee-ee-ee",  # not the file's device
                "last_seen_at": 1.0,
                "last_status": 200,
                "device_etag": "e",
                "client": None,
                "user_agent": None,
                "recent": [1.0],
                "written_at": 1.0,
            }
        )
    )
    # Forget marks that are not ours: garbage, a symlink, another device's, one from a clock
    # far ahead (it would hide the device for good).
    (root / f"{B}.forgotten").write_text("not json")
    (root / "cc-cc-cc-cc-cc-cc.forgotten").symlink_to("/etc/passwd")
    (root / f"{A}.forgotten").write_text(json.dumps({"mac_address": str(B), "forgotten_at": 9.0}))
    far_ahead = {"mac_address": "dd-dd-dd-dd-dd-dd", "forgotten_at": time.time() + 86_400}
    (root / "dd-dd-dd-dd-dd-dd.forgotten").write_text(json.dumps(far_ahead))
    stale = root / f".{A}.json.0123456789ab.tmp"
    stale.write_text("{}")
    os.utime(stale, (1, 1))
    log = FilesystemCheckInLog(tmp_path)
    assert await log.records() == {}
    assert not stale.exists()
    assert not (root / "dd-dd-dd-dd-dd-dd.forgotten").exists()
    log.record(check_in(at=5.0))  # a device's next check-in replaces the broken file
    log.record(check_in(MacAddress("dd-dd-dd-dd-dd-dd"), at=6.0))
    await log.flush()
    found = await FilesystemCheckInLog(tmp_path).records()
    assert found[A].last_seen_at == 5.0
    assert found[MacAddress("dd-dd-dd-dd-dd-dd")].last_seen_at == 6.0


async def test_a_share_that_refuses_writes_loses_no_check_in_and_fails_no_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = FilesystemCheckInLog(tmp_path)
    log.record(check_in(at=7.0))

    def refuse(*_: object) -> None:
        raise OSError(30, "Read-only file system")

    with monkeypatch.context() as patched:
        patched.setattr("adapters.filesystem.checkins.os.replace", refuse)
        await log.flush()  # logged, not raised
    assert files(tmp_path) == []
    assert (await log.records())[A].last_seen_at == 7.0  # still held here
    await log.flush()
    assert files(tmp_path) == [f"{A}.json"]


async def test_reads_share_one_scan_and_reuse_it_for_a_second_unless_something_was_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = FilesystemCheckInLog(tmp_path), FilesystemCheckInLog(tmp_path)
    scans = []
    real_scan = FilesystemCheckInLog._scan

    def counting_scan(self: FilesystemCheckInLog) -> dict[str, object]:
        scans.append(self)
        return real_scan(self)  # type: ignore[return-value]

    monkeypatch.setattr(FilesystemCheckInLog, "_scan", counting_scan)
    together = await asyncio.gather(*(second.records() for _ in range(5)))
    assert len(scans) == 1
    assert all(found is together[0] for found in together)
    first.record(check_in(at=3.0))
    await first.flush()
    assert A not in await second.records()  # within the second: the last scan stands
    monkeypatch.setattr(
        "adapters.filesystem.checkins.READ_REUSE_SECONDS", 0.0
    )  # a second later, as it were
    assert (await second.records())[A].last_seen_at == 3.0
    second.record(check_in(B, at=4.0))  # anything recorded here: read again at once
    assert B in await second.records()


async def test_a_read_that_finds_nothing_changed_hands_back_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("adapters.filesystem.checkins.READ_REUSE_SECONDS", 0.0)
    writer, reader = FilesystemCheckInLog(tmp_path), FilesystemCheckInLog(tmp_path)
    writer.record(check_in(at=3.0))
    await writer.flush()
    first = await reader.records()
    assert first[A].last_seen_at == 3.0
    # Read again (the file just written is read again too, not trusted yet): equal, so the
    # same mapping, which is what lets the device list keep its answer.
    assert await reader.records() is first
    writer.record(check_in(at=4.0, etag="e2"))
    await writer.flush()
    changed = await reader.records()
    assert changed is not first
    assert changed[A].device_etag == "e2"
    reader.record(check_in(B, at=5.0, status=404, etag=None))  # held here, not flushed
    held = await reader.records()
    assert held is not changed
    assert set(held) == {A, B}
    assert await reader.records() is held
    assert await reader.forget(B)
    assert set(await reader.records()) == {A}


async def test_a_forget_is_not_undone_by_what_another_replica_held_back(tmp_path: Path) -> None:
    def replica() -> FilesystemCheckInLog:
        return FilesystemCheckInLog(tmp_path, refresh_seconds=0.5, forget_marks_seconds=1.0)

    # The device polls one replica, the admin forgets it through another, a third reads.
    polled, admin, reader = replica(), replica(), replica()
    polled.record(check_in(at=time.time() - 0.2))
    await polled.flush()
    polled.record(check_in(at=time.time() - 0.1))  # the same news: held back, not written
    await polled.flush()
    held_back = json.loads((tmp_path / CHECKIN_DIRECTORY / f"{A}.json").read_text())
    assert len(held_back["recent"]) == 1
    assert await admin.forget(A)
    forgotten_at = time.time()

    assert A not in await reader.records()
    assert await reader.record_of(A) is None
    await asyncio.sleep(0.6)  # past the refresh period: what `polled` held back is due
    await polled.flush()
    assert files(tmp_path) == [f"{A}.forgotten"]
    assert A not in await polled.records()

    polled.record(check_in(at=time.time()))  # the device asks again after the forget: seen again
    await polled.flush()
    again = await reader.record_of(A)
    assert again is not None
    assert all(at > forgotten_at for at in again.recent)

    await asyncio.sleep(1.0)  # the marks' time is over: the one who made it removes it
    await admin.flush()
    assert files(tmp_path) == [f"{A}.json"]
    # A mark whose maker is gone is removed by whoever reads the directory after it expired.
    assert await replica().forget(A)
    await asyncio.sleep(1.1)
    assert A not in await reader.records()
    assert files(tmp_path) == []


async def test_a_read_looks_at_each_file_only_when_the_directory_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("adapters.filesystem.checkins.READ_REUSE_SECONDS", 0.0)
    monkeypatch.setattr("adapters.filesystem.files.SETTLED_NS", 200_000_000)
    writer, reader = FilesystemCheckInLog(tmp_path), FilesystemCheckInLog(tmp_path)
    writer.record(check_in(at=1.0))
    writer.record(check_in(B, at=1.0))
    await writer.flush()
    listings = []
    real_scandir = os.scandir

    def counting_scandir(path: str) -> object:
        listings.append(path)
        return real_scandir(path)

    monkeypatch.setattr("adapters.filesystem.checkins.os.scandir", counting_scandir)
    await asyncio.sleep(0.3)  # the directory settled
    first = await reader.records()
    assert len(listings) == 1
    assert await reader.records() is first
    assert len(listings) == 1  # unchanged directory: not listed, no file looked at

    writer.record(check_in(at=2.0, etag="e2"))  # another replica's rename changes the directory
    await writer.flush()
    assert (await reader.records())[A].device_etag == "e2"
    assert len(listings) == 2

    # A file changed in place (not how any replica writes) leaves the directory as it was: it
    # is seen at the next full look, FULL_SCAN_SECONDS at the latest.
    await asyncio.sleep(0.3)
    await reader.records()
    path = tmp_path / CHECKIN_DIRECTORY / f"{B}.json"
    edited = json.loads(path.read_text())
    edited["device_etag"] = "edited"
    with path.open("r+") as file:
        file.write(json.dumps(edited))
        file.truncate()
    assert (await reader.records())[B].device_etag == "e1"
    monkeypatch.setattr("adapters.filesystem.checkins.FULL_SCAN_SECONDS", 0.0)
    assert (await reader.records())[B].device_etag == "edited"
