"""Large JSON work leaves the event loop for one thread of its own; small work stays put."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.http.large_json import OFF_THE_LOOP_BYTES, SWITCH_INTERVAL_SECONDS, off_the_loop
from entrypoints.settings import Settings


def thread_name(_: object) -> str:
    return threading.current_thread().name


async def test_small_work_runs_on_the_event_loop_thread() -> None:
    assert await off_the_loop(OFF_THE_LOOP_BYTES, thread_name, None) == thread_name(None)


async def test_large_work_runs_on_the_one_large_json_thread() -> None:
    names = await asyncio.gather(
        *(off_the_loop(OFF_THE_LOOP_BYTES + 1, thread_name, None) for _ in range(8))
    )
    assert set(names) == {"large-json_0"}


async def test_an_error_in_large_work_reaches_the_caller() -> None:
    def refuse(data: bytes) -> None:
        raise ValueError(f"refused {len(data)} bytes")

    with pytest.raises(ValueError, match=f"^refused {OFF_THE_LOOP_BYTES + 1} bytes$"):
        await off_the_loop(OFF_THE_LOOP_BYTES + 1, refuse, b"x" * (OFF_THE_LOOP_BYTES + 1))


def test_the_app_shortens_the_gil_switch_interval(tmp_path: Path) -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        create_app(bootstrap(Settings(configs_dir=tmp_path)))
        assert sys.getswitchinterval() == SWITCH_INTERVAL_SECONDS
    finally:
        sys.setswitchinterval(before)
