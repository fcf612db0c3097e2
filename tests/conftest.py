"""Shared fixtures: settings on a temp directory, the real app around a real or fake repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from adapters.filesystem import FilesystemDeviceConfigRepository
from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings

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
def repository(configs_dir: Path) -> FilesystemDeviceConfigRepository:
    return FilesystemDeviceConfigRepository(configs_dir)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """The real app over a real filesystem repository on a temp directory."""
    app = create_app(bootstrap(settings))
    async with app.test_app():
        yield app


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()
