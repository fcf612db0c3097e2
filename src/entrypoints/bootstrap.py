"""The composition root: the one place that knows both the domain's ports and the adapters."""

from __future__ import annotations

import punq

from adapters.filesystem_repository import FilesystemDeviceConfigRepository
from domain.ports import DeviceConfigRepository
from domain.use_cases import (
    CheckStorage,
    CountDeviceConfigs,
    DeleteDeviceConfig,
    GetConfigDocument,
    GetDeviceConfig,
    ListDeviceConfigs,
    PatchDeviceConfig,
    SaveDeviceConfig,
)
from entrypoints.metrics import Metrics
from entrypoints.settings import Settings
from entrypoints.version import service_version

USE_CASES = (
    CheckStorage,
    CountDeviceConfigs,
    DeleteDeviceConfig,
    GetConfigDocument,
    GetDeviceConfig,
    ListDeviceConfigs,
    PatchDeviceConfig,
    SaveDeviceConfig,
)


def bootstrap(
    settings: Settings, *, repository: DeviceConfigRepository | None = None
) -> punq.Container:
    """Wire the service from its settings; tests may pass a fake `repository` instead."""
    if repository is None:
        filesystem = FilesystemDeviceConfigRepository(settings.configs_dir)
        if settings.create_configs_dir:
            filesystem.create_directory()
        filesystem.sweep_stale_temp_files()
        repository = filesystem
    container = punq.Container()
    container.register(Settings, instance=settings)
    container.register(DeviceConfigRepository, instance=repository)
    for use_case in USE_CASES:
        container.register(use_case)
    container.register(Metrics, instance=Metrics(service_version()))
    return container
