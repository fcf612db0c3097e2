"""Decoding a large request body and encoding a large answer, off the event loop on one thread.

These are pure-Python or GIL-holding work (msgspec, the duplicate-key pass, the nesting walk): a
second thread makes none of it faster, it only adds one more thread the event loop must wait
behind for the GIL. With one thread, eight clients posting 1 MiB bodies queue behind each other
instead of starving the health probes (`bench/health_under_uploads.py`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

A = TypeVar("A")
T = TypeVar("T")

# Bodies larger than this are decoded (and config answers encoded) here: a 1 MiB body takes
# milliseconds, long enough to hold up health probes and device fetches if the event loop did
# it. Real configs are a few KB and stay on the loop, where a thread hop would cost more.
OFF_THE_LOOP_BYTES = 64 * 1024

# Started on first use; its thread is joined at interpreter exit like any executor's.
_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="large-json")


async def off_the_loop(size: int, work: Callable[[A], T], argument: A) -> T:
    """`work(argument)`, where `size` is the JSON's length in bytes: on the event loop when it
    is small, else on the large-JSON thread."""
    if size <= OFF_THE_LOOP_BYTES:
        return work(argument)
    return await asyncio.get_running_loop().run_in_executor(_THREAD, work, argument)


# CPython hands the GIL to a waiting thread only after the holder has run this long (5 ms by
# default). While a large body is decoded the event loop waits that long at every step of every
# other request (each wake-up from epoll, each result of a file read): a health probe took
# 450-590 ms at p99 next to eight 1 MiB uploads. At 1 ms it took 120-145 ms, the uploads as many.
SWITCH_INTERVAL_SECONDS = 0.001


def favour_the_event_loop() -> None:
    """Let the event loop take the GIL back from a thread doing large JSON work sooner."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
