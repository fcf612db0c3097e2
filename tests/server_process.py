"""Start and stop the real `iot-support` process on a free loopback port, for tests."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import httpx
import pytest

SERVER = Path(sys.executable).with_name("iot-support")
START_TIMEOUT_SECONDS = 20.0


@attrs.frozen
class RunningServer:
    process: subprocess.Popen[bytes]
    base_url: str
    configs_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    tmp_path: Path, *, unset: tuple[str, ...] = (), open_files: int | None = None, **env: str
) -> RunningServer:
    """The real process on a free port; `open_files` lowers its descriptor limit."""
    if not SERVER.exists():
        pytest.fail(f"{SERVER} is missing: install the project first (see README)")
    port = free_port()
    configs_dir = tmp_path / "configs"
    configs_dir.mkdir(exist_ok=True)
    log_path = tmp_path / f"server-{port}.log"
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ESP32_CONFIGS_DIR": str(configs_dir),
        **env,
    }
    for name in unset:
        environment.pop(name, None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(SERVER)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            preexec_fn=None if open_files is None else limit_open_files(open_files),
        )
    server = RunningServer(process, f"http://127.0.0.1:{port}", configs_dir, log_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/api/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop_server(server)
    pytest.fail(f"server did not become healthy in {START_TIMEOUT_SECONDS}s:\n{server.log()}")


def limit_open_files(count: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))

    return limit


def stop_server(server: RunningServer) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


@contextlib.contextmanager
def running_server(
    tmp_path: Path, *, open_files: int | None = None, **env: str
) -> Iterator[RunningServer]:
    """A server for the duration of a `with` block (a module fixture's body)."""
    server = start_server(tmp_path, unset=(), open_files=open_files, **env)
    try:
        yield server
    finally:
        stop_server(server)
