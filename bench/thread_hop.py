"""What one hop to a worker thread costs: `asyncio.to_thread` against `BatchedThreads`.

    .venv/bin/python bench/thread_hop.py [--callers 16] [--calls 3000]

Each of CALLERS coroutines reads a small file CALLS times through the hop; prints the process
CPU (all threads) per call. With one caller there is nothing to batch and both cost the same.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable

from adapters.filesystem.threads import BatchedThreads


def read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fstat(fd)
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


async def measure(
    hop: Callable[[str], Awaitable[bytes]], path: str, callers: int, calls: int
) -> float:
    async def caller() -> None:
        for _ in range(calls):
            await hop(path)

    started = time.process_time()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return (time.process_time() - started) / (callers * calls) * 1e6


async def main(callers: int, calls: int) -> None:
    batched = BatchedThreads()
    with tempfile.NamedTemporaryFile() as file:
        file.write(b"x" * 900)
        file.flush()

        async def inline(path: str) -> bytes:
            await asyncio.sleep(0)
            return read(path)

        hops: dict[str, Callable[[str], Awaitable[bytes]]] = {
            "no hop (read on the loop)": inline,
            "asyncio.to_thread": lambda path: asyncio.to_thread(read, path),
            "BatchedThreads.run": lambda path: batched.run(read, path),
        }
        for name, hop in hops.items():
            us = await measure(hop, file.name, callers, calls)
            print(f"{name:<28} {us:6.1f} us CPU per call ({callers} callers)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(main(args.callers, args.calls))
