"""What a request costs the app alone: the real ASGI app called in-process, without sockets.

`python bench/asgi_alone.py [--requests N]`: writes 200 generated configs into a temp
directory, wires the app as `iot-support` does (text access log to /dev/null), and prints the
CPU microseconds per request of a device fetch, a 304 poll, an admin get and a health probe,
the median of five rounds (`--without-fast-lane` adds each of them answered by the Quart routes
alone, in the same rounds: what the fast lane saves; `--against-checkins-off` adds each of
them answered by an app with CHECKINS=off: what recording check-ins costs). Without the HTTP
server and the load generator in the same measurement it is steadier than bench/run.py on a
shared machine, so it is the one to compare two builds of the app with (run each build in
turn, on the same machine, and compare ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.observability.logs import configure_logging
from entrypoints.settings import Settings

GENERATOR = os.environ.get("BENCH_GENERATOR", "../shared/bench/gen_configs.py")
ROUNDS = 5
# Concurrent callers, as wrk's 16 connections in bench/run.py: reads hop to worker threads in
# batches, so one caller at a time would measure thread wake-ups, not the app.
CALLERS = 16


async def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    status = 0
    asked = False
    answered = asyncio.Event()

    async def receive() -> dict[str, Any]:
        # The request once; then, as a server would, nothing until the client goes away
        # (Quart keeps listening for a disconnect while it answers).
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif not message.get("more_body", False):
            answered.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 3201),
        "extensions": {},
    }
    await app(scope, receive, send)
    return status


async def measure(
    app: Any, macs: list[str], requests: int, alternatives: dict[str, Any]
) -> dict[str, float]:
    first = f"/api/configs/{macs[0]}.json"
    etag = ""

    async def grab_etag(message: dict[str, Any]) -> None:
        nonlocal etag
        for name, value in message.get("headers", ()):
            if name == b"etag":
                etag = value.decode()

    await app(
        {
            "type": "http",
            "method": "GET",
            "path": first,
            "raw_path": first.encode(),
            "query_string": b"",
            "headers": [(b"host", b"bench")],
            "http_version": "1.1",
            "scheme": "http",
            "root_path": "",
            "client": ("127.0.0.1", 1),
            "server": None,
        },
        None,
        grab_etag,
    )
    scenarios: dict[str, tuple[str, Any, list[tuple[bytes, bytes]], int]] = {
        "device fetch": ("GET", lambda i: f"/api/configs/{macs[i % len(macs)]}.json", [], 200),
        "304 poll": ("GET", lambda i: first, [(b"if-none-match", etag.encode())], 304),
        "admin get": ("GET", lambda i: f"/api/configs/{macs[i % len(macs)]}", [], 200),
        "health": ("GET", lambda i: "/api/health", [], 200),
    }
    calls: dict[str, Any] = dict.fromkeys(scenarios, app)
    # The same requests through other apps (without the fast lane, with check-ins off), in the
    # same rounds: what each saves, measured without the machine's drift between two runs.
    for suffix, other in alternatives.items():
        for name in [name for name in scenarios if "," not in name]:
            scenarios[f"{name}, {suffix}"] = scenarios[name]
            calls[f"{name}, {suffix}"] = other
    figures: dict[str, list[float]] = {name: [] for name in scenarios}
    for _ in range(ROUNDS):
        for name, (method, path, headers, expected) in scenarios.items():

            async def caller(
                first: int,
                method: str = method,
                path: Any = path,
                headers: Any = headers,
                expected: int = expected,
                name: str = name,
            ) -> None:
                for i in range(first, requests, CALLERS):
                    status = await call(calls[name], method, path(i), headers)
                    if status != expected:
                        raise SystemExit(f"{name}: answered {status}, not {expected}")

            before = time.process_time()
            await asyncio.gather(*(caller(c) for c in range(CALLERS)))
            figures[name].append((time.process_time() - before) * 1e6 / requests)
    return {name: statistics.median(values) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--without-fast-lane", action="store_true")
    parser.add_argument("--against-checkins-off", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        subprocess.run([sys.executable, GENERATOR, directory, "200", "1"], check=True)
        macs = sorted(name.removesuffix(".json") for name in os.listdir(directory))
        configure_logging("INFO", "text")
        logging.getLogger().handlers[0].setStream(open(os.devnull, "w"))  # noqa: SIM115
        settings = Settings(configs_dir=Path(directory))
        app = create_app(bootstrap(settings))
        alternatives = {}
        if args.without_fast_lane:
            alternatives["Quart routes"] = create_app(bootstrap(settings), fast_lane=False)
        if args.against_checkins_off:
            off = attrs.evolve(settings, checkins=False)
            alternatives["check-ins off"] = create_app(bootstrap(off))
        figures = asyncio.run(measure(app, macs, args.requests, alternatives))
    for name, micros in figures.items():
        print(f"  {name:<30} {micros:8.1f} us CPU a request")


if __name__ == "__main__":
    main()
