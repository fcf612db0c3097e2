"""The `iot-support` command: read settings, wire the app, serve it with hypercorn until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

from domain.errors import StorageUnavailable
from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.observability.logs import configure_logging
from entrypoints.settings import Settings, SettingsError

logger = logging.getLogger("iot_support")


READ_TIMEOUT_SECONDS = 30


def listening_socket(settings: Settings) -> socket.socket:
    """The server's socket, bound here so a taken port is reported before anything else.

    Its TCP_USER_TIMEOUT (inherited by every accepted connection) makes the kernel drop a peer
    that acknowledges none of what we send for `SEND_TIMEOUT_SECONDS`, such as a client that
    asked for a config and stopped reading: without it such a connection, and the answer
    buffered for it, lives as long as the peer's machine does.
    """
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(
            socket.IPPROTO_TCP,
            socket.TCP_USER_TIMEOUT,
            max(1, round(settings.send_timeout_seconds * 1000)),
        )
        sock.bind((settings.host, settings.port))
    except OSError:
        sock.close()
        raise
    return sock


def hypercorn_config(settings: Settings, sock: socket.socket) -> Config:
    config = Config()
    # hypercorn takes the descriptor over (and listens on it).
    config.bind = [f"fd://{sock.detach()}"]
    config.graceful_timeout = settings.shutdown_grace_seconds
    # A connection that sends nothing for this long is closed (hypercorn waits forever by
    # default); idle keep-alive connections close after hypercorn's 5 s.
    config.read_timeout = READ_TIMEOUT_SECONDS
    config.errorlog = logging.getLogger("hypercorn.error")
    config.accesslog = None
    return config


class LoopExceptionHandler:
    """The event loop's exception handler, for what asyncio would report with a traceback but
    is an expected event here. When the process runs out of descriptors, asyncio reports every
    failed accept, tens of thousands a second (22 MB of log in 16 s, seen here): one line a
    second says the same. A connection the kernel dropped because its peer stopped reading
    (`listening_socket`) ends hypercorn's connection task with ETIMEDOUT: one debug line, the
    cut answer was logged already. Anything else goes to asyncio's own handler."""

    MESSAGE = "socket.accept() out of system resource"

    def __init__(self, interval_seconds: float = 1.0) -> None:
        self._interval = interval_seconds
        self._last = -interval_seconds
        self._unlogged = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), asyncio.CancelledError):
            # hypercorn's connection tasks are cancelled when the grace period ends: expected,
            # not an error worth a traceback.
            logger.debug("a connection was cancelled at shutdown")
            return
        exception = context.get("exception")
        if isinstance(exception, TimeoutError) and exception.errno == errno.ETIMEDOUT:
            logger.debug("a connection was dropped: its peer acknowledged nothing in time")
            return
        if context.get("message") != self.MESSAGE:
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self._last < self._interval:
            self._unlogged += 1
            return
        logger.error(
            "cannot accept connections: %s (%d more times since the last such line)",
            context.get("exception"),
            self._unlogged,
        )
        self._last, self._unlogged = now, 0


async def _serve(settings: Settings) -> None:
    app = create_app(bootstrap(settings))
    sock = listening_socket(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(LoopExceptionHandler())
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    logger.info(
        "iot-support listening on http://%s:%d, serving configs from %s",
        settings.host,
        settings.port,
        settings.configs_dir.resolve(),
    )
    directory = settings.configs_dir.resolve()
    problem = _directory_problem(directory)
    if problem is not None:
        logger.warning(
            "configs directory %s %s; /api/health answers 503 until it is a usable directory",
            directory,
            problem,
        )
    serving = asyncio.ensure_future(
        serve(app, hypercorn_config(settings, sock), shutdown_trigger=stop.wait)
    )
    await asyncio.wait([serving, asyncio.ensure_future(stop.wait())], return_when="FIRST_COMPLETED")
    # On Python 3.12 hypercorn's graceful shutdown also waits for every open connection to
    # close (asyncio's Server.wait_closed does since 3.12), so a stalled upload would hold the
    # process past the grace period: past it (and a second for hypercorn's own cancelling),
    # the server is cancelled, which answers what is still in flight with 503 SHUTTING_DOWN.
    done, _ = await asyncio.wait([serving], timeout=settings.shutdown_grace_seconds + 1)
    if done:
        await serving  # its result, or the error that stopped it (say, the port is taken)
    else:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    logger.info("iot-support stopped")


def _directory_problem(directory: Path) -> str | None:
    """What is wrong with the configs directory at start, in words, or None."""
    try:
        info = directory.stat()
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be looked at ({exc.strerror})"
    if not stat.S_ISDIR(info.st_mode):
        return "is a file, not a directory" if stat.S_ISREG(info.st_mode) else "is not a directory"
    return None


def settings_or_exit() -> Settings:
    """The settings from the environment; a bad one stops the process here with one line and
    exit status 2, under `iot-support` and `hypercorn entrypoints.asgi:app` alike."""
    try:
        return Settings.from_env(os.environ)
    except SettingsError as exc:
        sys.stderr.write(f"iot-support: invalid setting: {exc}\n")
        raise SystemExit(2) from None


def main() -> None:
    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(_serve(settings))
    except StorageUnavailable as exc:
        logger.error("cannot prepare the configs directory: %s", exc.message)
        raise SystemExit(1) from None
    except OSError as exc:
        # Typically the port is taken or the host is not an address of this machine.
        logger.error("cannot serve on %s:%d: %s", settings.host, settings.port, exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
