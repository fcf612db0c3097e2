"""Prometheus metrics on a registry owned by one app, and the `/metrics` route."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from quart import Blueprint, Response
from quart_schema import hide

from domain.errors import StorageUnavailable
from domain.model import SkippedFile
from domain.use_cases import CountDeviceConfigs
from entrypoints.dependencies import resolve
from entrypoints.errors import classify

# Local file operations take well under a millisecond; the default buckets start at 5 ms.
OPERATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """The service's metrics. One instance per app, so test apps never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.operations = Counter(
            "iot_config_operations_total",
            "Config operations by outcome (success, or the error code in lower case).",
            ["operation", "status"],
            registry=self.registry,
        )
        self.operation_duration = Histogram(
            "iot_config_operation_duration_seconds",
            "Time spent in config operations, including storage I/O.",
            ["operation"],
            registry=self.registry,
            buckets=OPERATION_BUCKETS,
        )
        self.files = Gauge(
            "iot_config_files_count",
            "Entries in the configs directory named like a config, counted at scrape time.",
            registry=self.registry,
        )
        self.skipped = Counter(
            "iot_config_files_skipped_total",
            "Files left out of a listing, by reason (counted on every listing that skips them).",
            ["reason"],
            registry=self.registry,
        )

    @contextmanager
    def operation(self, name: str) -> Iterator[None]:
        """Time a config operation and count it under its outcome."""
        started = time.perf_counter()
        status = "success"
        try:
            yield
        except BaseException as error:
            status = classify(error)[1].lower()
            raise
        finally:
            self.operation_duration.labels(name).observe(time.perf_counter() - started)
            self.operations.labels(name, status).inc()

    def count_skipped(self, skipped: Iterable[SkippedFile]) -> None:
        for item in skipped:
            self.skipped.labels(item.problem.value).inc()


blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
@hide
async def metrics() -> Response:
    """Prometheus text exposition of the service's metrics."""
    registry = resolve(Metrics)
    try:
        registry.files.set(await resolve(CountDeviceConfigs).execute())
    except StorageUnavailable:
        # Still answer: the scrape must show the process is alive while storage is not.
        registry.files.set(float("nan"))
    return Response(generate_latest(registry.registry), content_type=CONTENT_TYPE_LATEST)
