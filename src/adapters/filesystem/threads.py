"""Blocking calls run off the event loop, one thread hand-off per batch instead of per call.

`asyncio.to_thread` costs a worker wake-up, a GIL hand-over and a self-pipe wake-up of the loop
for every call: about 60 us of CPU each on this machine class, more than the read it carries.
Under load many device fetches arrive in the same turn of the event loop; gathered, they cross
to a worker thread together and come back with one wake-up (measured: 10-13 us per call with
16 callers, see ARCHITECTURE.md "Performance"). A lone call costs what `to_thread` costs.

The calls of one batch run one after another on one thread, so a slow call delays its batch:
reads batch without bound, writes (`max_batch`) a few at a time. A stalled filesystem stalls
the batches it holds; the next batch goes to another thread of the pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple["asyncio.Future[Any]", contextvars.Context, Callable[..., Any], tuple[Any, ...]]
_Outcome = tuple["asyncio.Future[Any]", BaseException | None, Any]


class BatchedThreads:
    """`threads` workers; each takes up to `max_batch` of one turn's calls (None: all of them)."""

    def __init__(
        self, threads: int = 8, name: str = "batched-io", max_batch: int | None = None
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._max_batch = max_batch
        # Per thread, because each thread runs its own event loop (tests drive one repository
        # from many threads, each with asyncio.run).
        self._local = threading.local()

    def run(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run `function(*args)` in a worker thread, in the caller's context; await the result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        pending: list[_Call] | None = getattr(self._local, "pending", None)
        if pending is None or self._local.loop is not loop:
            pending = self._local.pending = []
            self._local.loop = loop
        if not pending:
            # Everything asked for in this turn of the loop leaves together at its end.
            loop.call_soon(self._dispatch, loop, pending)
        pending.append((future, contextvars.copy_context(), function, args))
        return future

    def _dispatch(self, loop: asyncio.AbstractEventLoop, pending: list[_Call]) -> None:
        batch = pending[:]
        pending.clear()
        size = self._max_batch or len(batch)
        for start in range(0, len(batch), size):
            self._pool.submit(_run_batch, loop, batch[start : start + size])


def _run_batch(loop: asyncio.AbstractEventLoop, batch: list[_Call]) -> None:
    outcomes: list[_Outcome] = []
    for future, context, function, args in batch:
        try:
            outcomes.append((future, None, context.run(function, *args)))
        except BaseException as exc:  # handed to the awaiting caller, as to_thread does
            outcomes.append((future, exc, None))
    with suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
        loop.call_soon_threadsafe(_settle, outcomes)


def _settle(outcomes: list[_Outcome]) -> None:
    for future, error, result in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
