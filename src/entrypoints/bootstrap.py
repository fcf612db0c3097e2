"""The composition root: the one place that knows both the domain's ports and the adapters."""

from __future__ import annotations

import os
import socket

import attrs
import punq

from adapters.filesystem import SKIP_REASONS, FilesystemDeviceConfigRepository
from adapters.filesystem.checkins import FilesystemCheckInLog
from adapters.mqtt_notifier import MqttNotifier, MqttOptions
from adapters.no_checkins import NoCheckIns
from adapters.silent_notifier import SilentNotifier
from domain.checkins import CheckInTiming
from domain.ports import CheckInLog, DeviceConfigRepository, Notifier
from domain.use_cases import (
    CheckStorage,
    CheckWrites,
    CompareRevisions,
    DeleteDeviceConfig,
    ForgetDevice,
    GetConfigDocument,
    GetConfigHistory,
    GetDevice,
    GetDeviceConfig,
    GetRevision,
    ListDeletedConfigs,
    ListDeviceConfigs,
    ListDevices,
    PatchDeviceConfig,
    RecordCheckIn,
    RestoreRevision,
    SaveDeviceConfig,
)
from entrypoints.background import Background, BackgroundServices
from entrypoints.checkin_flusher import CheckInFlusher
from entrypoints.http.routes import CONFIG_FILE_ROUTE, CONFIG_ROUTE
from entrypoints.http.storage_checks import StorageChecks
from entrypoints.observability.metrics import Metrics
from entrypoints.observability.observation import route_label
from entrypoints.settings import MqttSettings, Settings
from entrypoints.version import service_version

USE_CASES = (
    CheckStorage,
    CheckWrites,
    CompareRevisions,
    DeleteDeviceConfig,
    ForgetDevice,
    GetConfigDocument,
    GetConfigHistory,
    GetDevice,
    GetDeviceConfig,
    GetRevision,
    ListDeletedConfigs,
    ListDeviceConfigs,
    ListDevices,
    PatchDeviceConfig,
    RecordCheckIn,
    RestoreRevision,
    SaveDeviceConfig,
)


def bootstrap(
    settings: Settings,
    *,
    repository: DeviceConfigRepository | None = None,
    notifier: Notifier | None = None,
) -> punq.Container:
    """Wire the service from its settings; tests may pass a fake `repository` or `notifier`.
    A notifier that runs in the background (start/stop) is started and stopped with the app;
    one that counts (`stats()`) feeds the MQTT metrics. Check-ins (unless CHECKINS=off) are
    kept beside the configs and flushed by a background task."""
    if repository is None:
        filesystem = FilesystemDeviceConfigRepository(
            settings.configs_dir,
            lock_timeout_seconds=settings.lock_timeout_seconds,
            history_max_revisions=settings.history_max_revisions,
            history_max_age_days=settings.history_max_age_days,
            history=settings.history,
        )
        if settings.create_configs_dir:
            filesystem.create_directory()
        filesystem.sweep_stale_temp_files()
        repository = filesystem
    if notifier is None:
        notifier = mqtt_notifier(settings.mqtt) if settings.mqtt else SilentNotifier()
    # A check-in reaches the share within a flush interval, or a refresh period when nothing
    # about the device changed: no device is called overdue sooner than that (and a flush), and
    # a forget's mark is kept as long, for what other replicas hold back meanwhile.
    quiet_floor = settings.checkin_refresh_seconds + 2 * settings.checkin_flush_seconds
    check_ins: CheckInLog = (
        FilesystemCheckInLog(
            settings.configs_dir,
            refresh_seconds=settings.checkin_refresh_seconds,
            forget_marks_seconds=quiet_floor,
        )
        if settings.checkins
        else NoCheckIns()
    )
    container = punq.Container()
    container.register(Settings, instance=settings)
    container.register(DeviceConfigRepository, instance=repository)
    container.register(Notifier, instance=notifier)
    container.register(CheckInLog, instance=check_ins)
    container.register(CheckInTiming, instance=CheckInTiming(quiet_floor))
    for use_case in USE_CASES:
        # Use cases hold nothing but their ports: one instance each serves every request.
        container.register(use_case, scope=punq.Scope.singleton)
    container.register(StorageChecks, scope=punq.Scope.singleton)
    background: tuple[Background, ...] = (notifier,) if isinstance(notifier, Background) else ()
    flusher = None
    if settings.checkins:
        flusher = CheckInFlusher(
            check_ins, container.resolve(ListDevices), settings.checkin_flush_seconds
        )
        background = (*background, flusher)
    container.register(BackgroundServices, instance=BackgroundServices(background))
    stats = getattr(notifier, "stats", None)
    # A repository that keeps a history (the filesystem's, while HISTORY is on) counts it.
    history_stats = getattr(repository, "history_stats", None) if settings.history else None
    metrics = Metrics(
        service_version(),
        stats,
        skip_reasons=SKIP_REASONS,
        conditional_routes=(route_label(CONFIG_FILE_ROUTE), route_label(CONFIG_ROUTE)),
        history_stats=history_stats,
        check_in_stats=getattr(check_ins, "stats", None) if flusher else None,
        device_census=(lambda: flusher.census) if flusher else None,
    )
    container.register(Metrics, instance=metrics)
    return container


def mqtt_notifier(mqtt: MqttSettings) -> MqttNotifier:
    # Each replica needs its own client id, or the broker would drop one when the other connects.
    client_id = f"iot-support-{socket.gethostname()}-{os.getpid()}"
    # The operator's settings as they are (MqttOptions has a field for each, checked by a
    # test), plus what only this process knows.
    return MqttNotifier(MqttOptions(client_id=client_id, **attrs.asdict(mqtt, recurse=False)))
