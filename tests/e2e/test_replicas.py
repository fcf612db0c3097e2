"""Two `iot-support` replicas on one directory, and other programs editing it: never stale."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.files import entries
from tests.server_process import RunningServer, start_server, stop_server
from tests.storage_worker import spawn

pytestmark = pytest.mark.e2e

MAC = "30-ae-a4-00-00-01"
WRITERS = 50


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, shared_dir: Path
) -> Iterator[tuple[RunningServer, RunningServer]]:
    first = start_server(tmp_path_factory.mktemp("a"), ESP32_CONFIGS_DIR=str(shared_dir))
    try:
        second = start_server(tmp_path_factory.mktemp("b"), ESP32_CONFIGS_DIR=str(shared_dir))
    except BaseException:
        stop_server(first)
        raise
    try:
        yield first, second
    finally:
        stop_server(first)
        stop_server(second)


@pytest.fixture(autouse=True)
def empty_shared_dir(shared_dir: Path) -> None:
    for name in entries(shared_dir):
        os.unlink(shared_dir / name)


def url(server: RunningServer, path: str) -> str:
    return f"{server.base_url}{path}"


def test_a_write_through_one_replica_is_read_through_the_other_at_once(
    replicas: tuple[RunningServer, RunningServer],
) -> None:
    first, second = replicas
    for version in range(20):
        writer, reader = (first, second) if version % 2 else (second, first)
        content = {"version": version}
        assert httpx.put(url(writer, f"/api/configs/{MAC}"), json={"content": content}).is_success
        assert httpx.get(url(reader, f"/api/configs/{MAC}.json")).json() == content
        assert httpx.get(url(reader, f"/api/configs/{MAC}")).json()["content"] == content
    assert httpx.delete(url(first, f"/api/configs/{MAC}")).status_code == 204
    assert httpx.get(url(second, f"/api/configs/{MAC}")).status_code == 404


def test_concurrent_saves_through_both_replicas_end_with_one_complete_body(
    replicas: tuple[RunningServer, RunningServer], shared_dir: Path
) -> None:
    bodies = [{"writer": i, "payload": f"{i:03d}" * 20_000} for i in range(WRITERS)]

    def save(i: int) -> int:
        server = replicas[i % 2]
        response = httpx.put(
            url(server, f"/api/configs/{MAC}"), json={"content": bodies[i]}, timeout=60
        )
        return response.status_code

    def read(i: int) -> object:
        response = httpx.get(url(replicas[i % 2], f"/api/configs/{MAC}.json"), timeout=60)
        return response.json() if response.status_code == 200 else response.status_code

    with ThreadPoolExecutor(max_workers=WRITERS + 10) as pool:
        saves = [pool.submit(save, i) for i in range(WRITERS)]
        reads = [pool.submit(read, i) for i in range(40)]
        statuses = [f.result() for f in saves]
        seen = [f.result() for f in reads]

    assert statuses == [200] * WRITERS
    assert all(item == 404 or item in bodies for item in seen)
    final = httpx.get(url(replicas[0], f"/api/configs/{MAC}.json")).json()
    assert final in bodies
    assert httpx.get(url(replicas[1], f"/api/configs/{MAC}.json")).json() == final
    assert entries(shared_dir) == [f"{MAC}.json"]


def test_concurrent_saves_and_deletes_through_both_replicas_never_fail(
    replicas: tuple[RunningServer, RunningServer], shared_dir: Path
) -> None:
    def operate(i: int) -> int:
        target = url(replicas[i % 2], f"/api/configs/{MAC}")
        if i % 3 == 0:
            return httpx.delete(target, timeout=60).status_code
        return httpx.put(target, json={"content": {"writer": i}}, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        statuses = list(pool.map(operate, range(WRITERS)))

    assert set(statuses) <= {200, 204, 404}
    assert statuses.count(200) == len([i for i in range(WRITERS) if i % 3])
    names = entries(shared_dir)
    assert names in ([], [f"{MAC}.json"])
    if names:
        final = httpx.get(url(replicas[1], f"/api/configs/{MAC}.json")).json()
        assert final["writer"] % 3 != 0


def test_files_changed_by_another_program_show_on_the_next_request(
    replicas: tuple[RunningServer, RunningServer], shared_dir: Path
) -> None:
    path = shared_dir / f"{MAC}.json"
    path.write_text('{"deviceName": "aaaa"}\n')
    for server in replicas:
        assert httpx.get(url(server, f"/api/configs/{MAC}")).json()["device_name"] == "aaaa"
        listed = httpx.get(url(server, "/api/configs")).json()
        assert [c["device_name"] for c in listed["configs"]] == ["aaaa"]

    # Same size, same modification time to the nanosecond: only the bytes differ.
    stamp = path.stat()
    path.write_text('{"deviceName": "bbbb"}\n')
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert path.stat().st_size == stamp.st_size
    for server in replicas:
        assert httpx.get(url(server, f"/api/configs/{MAC}")).json()["device_name"] == "bbbb"
        assert httpx.get(url(server, f"/api/configs/{MAC}.json")).content == path.read_bytes()
        listed = httpx.get(url(server, "/api/configs")).json()
        assert [c["device_name"] for c in listed["configs"]] == ["bbbb"]

    path.unlink()
    for server in replicas:
        assert httpx.get(url(server, f"/api/configs/{MAC}")).status_code == 404
        assert httpx.get(url(server, "/api/configs")).json()["count"] == 0


def test_health_follows_the_directory_without_a_restart(
    replicas: tuple[RunningServer, RunningServer], shared_dir: Path
) -> None:
    moved = shared_dir.with_name(shared_dir.name + "-away")
    shared_dir.rename(moved)
    try:
        for server in replicas:
            response = httpx.get(url(server, "/api/health"))
            assert response.status_code == 503
            assert response.json()["reason"] == "directory_missing"
            assert httpx.get(url(server, "/api/configs")).status_code == 503
    finally:
        moved.rename(shared_dir)
    for server in replicas:
        assert httpx.get(url(server, "/api/health")).status_code == 200


def test_a_file_in_place_of_the_directory_is_unhealthy(
    replicas: tuple[RunningServer, RunningServer], shared_dir: Path
) -> None:
    moved = shared_dir.with_name(shared_dir.name + "-away")
    shared_dir.rename(moved)
    shared_dir.write_text("not a directory")
    try:
        response = httpx.get(url(replicas[0], "/api/health"))
        assert response.status_code == 503
        assert response.json()["reason"] == "not_a_directory"
    finally:
        shared_dir.unlink()
        moved.rename(shared_dir)


def test_conditional_writes_through_both_replicas_lose_no_update(
    replicas: tuple[RunningServer, RunningServer],
) -> None:
    """Client processes each GET the config from one replica and PUT it back with If-Match
    through the other: the final counter equals the number of writes that succeeded."""
    first, second = replicas
    assert httpx.put(url(first, f"/api/configs/{MAC}"), json={"content": {"counter": 0}}).is_success
    bases = f"{first.base_url},{second.base_url}"
    clients = [spawn("increment-http", bases, MAC, "15") for _ in range(6)]
    results = [client.communicate(timeout=300) for client in clients]
    assert [client.returncode for client in clients] == [0] * 6, [err for _, err in results]
    succeeded = sum(int(out.split()[0]) for out, _ in results)
    assert succeeded == 90
    for server in replicas:
        assert httpx.get(url(server, f"/api/configs/{MAC}.json")).json()["counter"] == succeeded


def test_fifty_writers_through_both_replicas_leave_one_revision_each_in_lock_order(
    replicas: tuple[RunningServer, RunningServer],
) -> None:
    """History under the race: 50 saves and a few deletes of one config through two replicas
    leave exactly one revision per write that was answered, none torn, numbered in the order
    the writes took the shared lock (their times rise with the numbers), the newest holding
    what is stored."""
    mac = "30-ae-a4-00-00-02"  # a history of its own: the fixture empties configs, not history
    target = f"/api/configs/{mac}"

    def write(i: int) -> tuple[int, str]:
        server = replicas[i % 2]
        headers = {"X-Request-ID": f"writer-{i}"}
        if i % 10 == 9:
            response = httpx.delete(url(server, target), headers=headers, timeout=60)
        else:
            body = {"content": {"writer": i, "payload": f"{i:03d}" * 5_000}}
            response = httpx.put(url(server, target), json=body, headers=headers, timeout=60)
        return response.status_code, response.headers.get("ETag", "")

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        answers = list(pool.map(write, range(WRITERS)))

    recorded = {f"writer-{i}" for i, (status, _) in enumerate(answers) if status in (200, 204)}
    assert all(status in (200, 204, 404) for status, _ in answers)
    history = httpx.get(url(replicas[1], f"{target}/history?limit=1000")).json()
    revisions = list(reversed(history["revisions"]))  # oldest first
    assert {r["correlation_id"] for r in revisions} == recorded
    assert len(revisions) == len(recorded)
    assert [r["revision"] for r in revisions] == [f"{n:012d}" for n in range(1, len(revisions) + 1)]
    times = [r["saved_at"] for r in revisions]
    assert times == sorted(times)
    for r in revisions:
        i = int(r["correlation_id"].removeprefix("writer-"))
        assert r["operation"] == ("delete" if i % 10 == 9 else "save")
        if r["operation"] == "save":
            assert r["etag"] == answers[i][1]
            raw = httpx.get(url(replicas[0], f"{target}/history/{r['revision']}.json"))
            assert raw.json() == {"writer": i, "payload": f"{i:03d}" * 5_000}
    newest = revisions[-1]
    stored = httpx.get(url(replicas[0], f"{target}.json"))
    if newest["operation"] == "delete":
        assert stored.status_code == 404
    else:
        assert (stored.headers["ETag"], newest["current"]) == (newest["etag"], True)
