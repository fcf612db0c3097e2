"""SIGKILL a writer at random moments, hundreds of times: every config stays a complete version."""

from __future__ import annotations

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
from adapters.filesystem.listing import TEMP_NAME
from tests.files import entries
from tests.server_process import start_server, stop_server
from tests.storage_worker import version_content

KILLS = 200
MACS = ["aa-aa-aa-aa-aa-aa", "bb-bb-bb-bb-bb-bb", "cc-cc-cc-cc-cc-cc"]
REPO_ROOT = Path(__file__).resolve().parents[2]


def start_writer(directory: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'src'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.storage_worker", "loop", str(directory), ",".join(MACS)],
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
        temp_files = [n for n in entries(tmp_path) if n.startswith(".")]
        assert all(TEMP_NAME.fullmatch(name) for name in temp_files)
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
