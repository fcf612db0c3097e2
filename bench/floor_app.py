"""The framework floor: bare Quart routes returning fixed bytes, served like iot-support is.

Run by bench/run.py: `python bench/floor_app.py HOST PORT BODY_FILE`.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request


def main(host: str, port: int, body_file: Path) -> None:
    body = body_file.read_bytes()
    app = Quart("floor", static_folder=None)

    @app.get("/floor")
    async def floor() -> Response:
        return Response(body, content_type="application/json")

    # What a write costs the framework alone: the request body read, fixed bytes answered.
    @app.put("/floor")
    async def floor_put() -> Response:
        await request.get_data()
        return Response(body, content_type="application/json")

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    asyncio.run(run())


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
