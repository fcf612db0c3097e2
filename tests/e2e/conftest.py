"""An HTTP client on the module's real `iot-support` process (the `server` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server_process import RunningServer


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client
