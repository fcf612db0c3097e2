"""The Quart application factory: routes, schemas, errors, CORS and metrics around a container."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import punq
from quart import Quart
from quart_cors import cors
from quart_schema import Info, QuartSchema

from domain.errors import DomainError
from domain.use_cases import (
    GetConfigDocument,
    GetDeviceConfig,
    ListDeviceConfigs,
    RecordCheckIn,
)
from entrypoints.background import BackgroundServices
from entrypoints.docs import swagger
from entrypoints.docs.openapi import ServiceOpenAPIProvider
from entrypoints.http import device_routes, history_routes, routes, service_routes
from entrypoints.http.conditional import VALIDATOR_HEADERS
from entrypoints.http.dependencies import attach_container, resolve
from entrypoints.http.fast_lane import FastLane
from entrypoints.http.large_json import favour_the_event_loop
from entrypoints.http.responses import register_error_handlers
from entrypoints.http.send_deadline import SendDeadline
from entrypoints.http.storage_checks import StorageChecks
from entrypoints.observability.correlation import REQUEST_ID_HEADER
from entrypoints.observability.metrics import Metrics
from entrypoints.observability.observation import ObservedRequests, name_routes
from entrypoints.settings import Settings
from entrypoints.version import service_version

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Configuration files for a fleet of ESP32 devices, one JSON object per device, named by the
device's MAC address. Devices download their own file from `/api/configs/{mac_address}.json`;
admins list, read, write and delete configs through the other routes.
"""


def create_app(container: punq.Container, *, fast_lane: bool = True) -> Quart:
    """Build the HTTP app around a wired container (see `bootstrap`). Without the fast lane,
    Quart's routes answer every request (the parity tests compare the two)."""
    settings: Settings = container.resolve(Settings)
    favour_the_event_loop()
    app = Quart("iot_support", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_config_bytes
    # Quart's default is 60 s: each slow or stalled upload holds a connection (a descriptor)
    # that long, and a thousand of them use up the process's descriptors.
    app.config["BODY_TIMEOUT"] = settings.body_timeout_seconds
    attach_container(app, container)

    schema = QuartSchema(
        app,
        openapi_path="/api/openapi.json",
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info=Info(title="IoT Support Backend", version=service_version(), description=DESCRIPTION),
        openapi_provider_class=ServiceOpenAPIProvider,
        tags=[
            {"name": "configs", "description": "What admins and the admin UI use."},
            {"name": "devices", "description": "What ESP32 devices fetch."},
            {
                "name": "history",
                "description": "Every version saved and every delete, kept: see, compare, "
                "bring back.",
            },
            {
                "name": "check-ins",
                "description": "Which version each device downloaded last, and who asks for "
                "a config that does not exist.",
            },
            {"name": "service", "description": "Probes for Kubernetes."},
        ],
    )
    # The admin UI's build fetches the document from here.
    app.add_url_rule("/api/docs/openapi.json", "openapi_for_docs", schema.openapi)
    # Responses echo `content` as stored, so keys keep their order.
    app.json.sort_keys = False  # type: ignore[attr-defined]

    # Werkzeug would answer `/api/configs//<mac>` with a 308 redirect and an HTML page; here
    # such a path is what it is (a bad MAC), answered in the envelope like any other.
    app.url_map.merge_slashes = False
    app.url_map.converters.update(routes.CONVERTERS)
    app.register_blueprint(routes.blueprint)
    if settings.history:
        app.register_blueprint(history_routes.blueprint)
    if settings.checkins:
        app.register_blueprint(device_routes.blueprint)
    app.register_blueprint(service_routes.blueprint)
    app.register_blueprint(swagger.blueprint)
    register_error_handlers(app)
    name_routes(app)
    cors(
        app,
        allow_origin=list(settings.cors_origins),
        allow_methods=["GET", "PUT", "PATCH", "DELETE", "POST"],
        allow_headers=[
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "If-Modified-Since",
            "X-Request-ID",
            "X-Correlation-ID",
        ],
        expose_headers=[REQUEST_ID_HEADER, *VALIDATOR_HEADERS],
    )
    warm_up_in_the_background(app)
    counters = container.resolve(Metrics)
    served: Any = app.asgi_app
    if fast_lane:
        served = FastLane(
            served,
            fetch=container.resolve(GetConfigDocument),
            get=container.resolve(GetDeviceConfig),
            storage=container.resolve(StorageChecks),
            metrics=counters,
            check_in=container.resolve(RecordCheckIn),
            trust_proxy_headers=settings.trust_proxy_headers,
        )
    app.asgi_app = ObservedRequests(  # type: ignore[method-assign]
        SendDeadline(served, timeout_seconds=settings.send_timeout_seconds),
        metrics=counters,
        trust_proxy_headers=settings.trust_proxy_headers,
    )
    for service in container.resolve(BackgroundServices).services:
        app.before_serving(service.start)
        app.after_serving(service.stop)
    return app


def warm_up_in_the_background(app: Quart) -> None:
    """List once at start, so the first admin's list does not pay for reading every file. The
    server is healthy meanwhile: devices fetch their files directly."""
    tasks: list[asyncio.Task[None]] = []

    async def list_once() -> None:
        try:
            await resolve(ListDeviceConfigs).execute()
        except DomainError as error:
            logger.info("start-up listing skipped: %s", error.message)

    async def start() -> None:
        # Created inside the app context, whose context variables the task inherits.
        tasks.append(asyncio.get_running_loop().create_task(list_once()))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.before_serving(start)
    app.after_serving(stop)
