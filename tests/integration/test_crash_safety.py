"""SIGKILL a writer at random moments, hundreds of times: every config stays a complete version."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import pytest

from adapters.filesystem import FilesystemDeviceConfigRepository
from adapters.filesystem.history import HISTORY_DIRECTORY
from adapters.filesystem.listing import TEMP_NAME
from domain.errors import DeviceConfigNotFound
from domain.model import ConfigDocument, MacAddress
from tests.files import entries
from tests.server_process import start_server, stop_server
from tests.storage_worker import version_content

KILLS = 200
MACS = ["aa-aa-aa-aa-aa-aa", "bb-bb-bb-bb-bb-bb", "cc-cc-cc-cc-cc-cc"]
REPO_ROOT = Path(__file__).resolve().parents[2]


def start_writer(directory: Path, mode: str = "loop") -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'src'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.storage_worker", mode, str(directory), ",".join(MACS)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    return process


def assert_every_config_is_a_complete_version(directory: Path) -> None:
    for mac in MACS:
        path = directory / f"{mac}.json"
        if not path.exists():
            continue
        content = msgspec.json.decode(path.read_bytes())
        assert content == version_content(mac, content["version"]), f"{mac} is not a whole version"


@pytest.mark.slow
def test_sigkill_during_saves_never_leaves_a_torn_config(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    kills_with_a_save_in_flight = 0

    for _ in range(KILLS):
        writer = start_writer(tmp_path)
        time.sleep(rng.uniform(0, 0.03))
        writer.send_signal(signal.SIGKILL)
        writer.wait()

        assert_every_config_is_a_complete_version(tmp_path)
        hidden = [n for n in entries(tmp_path) if n.startswith(".")]
        temp_files = [n for n in hidden if TEMP_NAME.fullmatch(n)]
        # Anything else hidden is a revision being recorded (the next write commits it).
        assert all(n in {f".{mac}.revision" for mac in MACS} for n in hidden if n not in temp_files)
        if temp_files:
            kills_with_a_save_in_flight += 1
            for name in temp_files:  # Keep later rounds' count honest.
                os.unlink(tmp_path / name)

    # The kills really landed mid-save, not only between saves.
    assert kills_with_a_save_in_flight > 0

    # Debris of a crash is never listed or served, and the service starts and lists as before.
    debris = tmp_path / f".{MACS[0]}.json.crashed1.tmp"
    debris.write_bytes(b'{"half": ')
    server = start_server(tmp_path, ESP32_CONFIGS_DIR=str(tmp_path))
    try:
        listed = httpx.get(f"{server.base_url}/api/configs").json()
        assert [c["mac_address"] for c in listed["configs"]] == MACS
        for mac in MACS:
            served = httpx.get(f"{server.base_url}/api/configs/{mac}.json")
            assert served.content == (tmp_path / f"{mac}.json").read_bytes()
    finally:
        stop_server(server)
    assert debris.exists(), "a fresh temp file may belong to a live writer: kept"

    # Once old enough, crash debris is swept.
    old = time.time() - 3600
    os.utime(debris, (old, old))
    FilesystemDeviceConfigRepository(tmp_path).sweep_stale_temp_files()
    assert not debris.exists()
    print(f"{kills_with_a_save_in_flight} of {KILLS} kills landed while a save was in flight")


def assert_history_is_whole_and_agrees_with_each_config(directory: Path) -> int:
    """What a fresh replica shows ends with what is stored; then every revision file is whole
    and numbered without a gap. Returns how many revisions waited under temp names (a kill
    mid-write)."""
    prepared = 0
    for mac in MACS:
        history_dir = directory / HISTORY_DIRECTORY / mac
        path = directory / f"{mac}.json"
        prepared += (directory / f".{mac}.revision").exists()
        try:
            history = asyncio.run(
                FilesystemDeviceConfigRepository(directory).history(MacAddress(mac), limit=1)
            )
        except DeviceConfigNotFound:  # killed before its first write was stored
            assert not path.exists()
            continue
        newest = history.revisions[0]
        if path.exists():
            stored = ConfigDocument(MacAddress(mac), path.read_bytes(), 0).revision
            assert newest.operation.value != "delete", f"{mac}: stored, but deleted in history"
            assert newest.etag == stored, f"{mac}: the config disagrees with its newest revision"
        else:
            assert newest.operation.value == "delete", f"{mac}: gone, but no delete recorded"
        names = sorted(n for n in os.listdir(history_dir) if n.endswith(".rev"))
        numbers = [int(name[:12]) for name in names]
        # Retention prunes the oldest but keeps the newest delete: at most that one before an
        # unbroken run that ends with the newest. Any other gap would be a lost revision.
        run = len(numbers) - 1
        while run > 0 and numbers[run - 1] == numbers[run] - 1:
            run -= 1
        assert run <= 1, f"{mac}: a gap in {numbers}"
        operations = []
        for name in names:
            header, _, body = (history_dir / name).read_bytes().partition(b"\n")
            revision = msgspec.json.decode(header)
            operations.append(revision["operation"])
            assert len(body) == revision["size"], f"{mac}/{name} is torn"
            if revision["operation"] != "delete":
                content = msgspec.json.decode(body)
                assert content == version_content(mac, content["version"])
        assert run == 0 or operations[0] == "delete", f"{mac}: a gap in {numbers}"
    return prepared


@pytest.mark.slow
def test_sigkill_during_saves_and_deletes_never_tears_or_loses_history(tmp_path: Path) -> None:
    rng = random.Random(20261201)
    kills_with_a_revision_prepared = 0
    for _ in range(KILLS):
        writer = start_writer(tmp_path, "churn")
        time.sleep(rng.uniform(0, 0.03))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert_every_config_is_a_complete_version(tmp_path)
        if assert_history_is_whole_and_agrees_with_each_config(tmp_path):
            kills_with_a_revision_prepared += 1
    # The kills really landed while revisions were being recorded.
    assert kills_with_a_revision_prepared > 0
    print(f"{kills_with_a_revision_prepared} of {KILLS} kills left a revision prepared")
