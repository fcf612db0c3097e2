from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import Counter

import pytest

from adapters.filesystem.threads import BatchedThreads

request_name: contextvars.ContextVar[str] = contextvars.ContextVar("request_name")


def whoami(tag: int) -> tuple[int, int, bool]:
    return tag, threading.get_ident(), threading.current_thread() is threading.main_thread()


async def test_calls_run_off_the_loop_and_return_their_results() -> None:
    threads = BatchedThreads()
    results = await asyncio.gather(*(threads.run(whoami, tag) for tag in range(5)))
    assert [tag for tag, _, _ in results] == [0, 1, 2, 3, 4]
    assert not any(on_main for _, _, on_main in results)


async def test_calls_asked_for_in_one_turn_share_one_thread_hand_off() -> None:
    threads = BatchedThreads()
    results = await asyncio.gather(*(threads.run(whoami, tag) for tag in range(16)))
    assert len({ident for _, ident, _ in results}) == 1


async def test_a_bounded_batch_spreads_a_burst_over_threads() -> None:
    threads = BatchedThreads(max_batch=4)
    barrier = threading.Barrier(4, timeout=5)

    def meet(tag: int) -> int:
        if tag % 4 == 0:  # the first call of each batch: all four batches run at once
            barrier.wait()
        return threading.get_ident()

    idents = await asyncio.gather(*(threads.run(meet, tag) for tag in range(16)))
    per_thread = Counter(idents)
    assert sorted(per_thread.values()) == [4, 4, 4, 4]


async def test_an_exception_reaches_its_own_caller_only() -> None:
    def fail() -> None:
        raise FileNotFoundError("gone")

    threads = BatchedThreads()
    ok, failed = await asyncio.gather(
        threads.run(whoami, 1), threads.run(fail), return_exceptions=True
    )
    assert isinstance(ok, tuple)
    assert ok[0] == 1
    assert isinstance(failed, FileNotFoundError)
    assert str(failed) == "gone"


async def test_each_call_sees_the_context_of_its_caller() -> None:
    threads = BatchedThreads()

    async def as_request(name: str) -> str:
        request_name.set(name)
        return await threads.run(request_name.get)

    names = await asyncio.gather(*(as_request(f"r{i}") for i in range(8)))
    assert names == [f"r{i}" for i in range(8)]


async def test_a_stalled_batch_does_not_hold_up_the_next_one() -> None:
    threads = BatchedThreads()
    release = threading.Event()
    try:
        stalled = threads.run(release.wait, 30)
        await asyncio.sleep(0.05)  # let the stalled call leave in its own batch
        tag, _, _ = await asyncio.wait_for(threads.run(whoami, 7), timeout=5)
        assert tag == 7
        assert not stalled.done()
    finally:
        release.set()
    assert await stalled is True


async def test_a_caller_that_gives_up_does_not_break_the_others() -> None:
    threads = BatchedThreads()
    release = threading.Event()
    abandoned = threads.run(release.wait, 30)
    kept = threads.run(whoami, 3)
    abandoned.cancel()
    release.set()
    assert (await kept)[0] == 3
    with pytest.raises(asyncio.CancelledError):
        await abandoned


def test_one_instance_serves_event_loops_in_many_threads() -> None:
    threads = BatchedThreads()
    failures: list[BaseException] = []

    def in_own_loop() -> None:
        async def calls() -> None:
            results = await asyncio.gather(*(threads.run(whoami, tag) for tag in range(20)))
            assert [tag for tag, _, _ in results] == list(range(20))

        try:
            asyncio.run(calls())
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=in_own_loop) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
