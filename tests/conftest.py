"""Shared fixtures: settings on a temp directory, the real app around a real or fake repository."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.server_process import RunningServer, running_server

MAC = "aa-bb-cc-dd-ee-ff"
OTHER_MAC = "00-11-22-33-44-55"


@pytest.fixture
def configs_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "configs"
    directory.mkdir()
    return directory


@pytest.fixture
def settings(configs_dir: Path) -> Settings:
    return Settings(configs_dir=configs_dir)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """The real app over a real filesystem repository on a temp directory."""
    app = create_app(bootstrap(settings))
    async with app.test_app():
        yield app


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A real `iot-support` process shared by the tests of a module, on a temp directory of its
    own; a module sets `SERVER_ENV` (a dict of environment variables) for other settings."""
    env: dict[str, Any] = getattr(request.module, "SERVER_ENV", {})
    name = request.module.__name__.rsplit(".", 1)[-1]
    with running_server(tmp_path_factory.mktemp(name), **env) as running:
        yield running
