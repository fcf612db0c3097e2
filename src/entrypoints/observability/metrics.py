"""Prometheus metrics on a registry owned by one app (`/metrics` is in http/service_routes.py)."""

from __future__ import annotations

import collections
import math
import platform
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

import attrs
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from domain.checkins import DeviceState
from domain.errors import StorageFailure
from domain.model import ConfigListing
from entrypoints.observability.exposition import TextEncoder

# The config operations the routes count (`http.errors.counted`): their success series and
# every storage failure kind exist from the start at 0, so `rate()` over them is 0, not "no data".
OPERATIONS = (
    "list",
    "get",
    "download",
    "save",
    "patch",
    "delete",
    "history",
    "restore",
    "devices",
)
# Local file operations take well under a millisecond; the default buckets start at 5 ms.
OPERATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# Any other method (a client may send any token) is counted as OTHER, for the same reason.
HTTP_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "POST", "OPTIONS"})
OTHER_METHOD = "OTHER"


class Metrics:
    """The service's metrics. One instance per app, so test apps never share counters."""

    def __init__(
        self,
        version: str = "unknown",
        notifier_stats: Callable[[], DeliveryCounts] | None = None,
        skip_reasons: Iterable[str] = (),
        conditional_routes: Iterable[str] = (),
        history_stats: Callable[[], HistoryCounts] | None = None,
        check_in_stats: Callable[[], CheckInCounts] | None = None,
        device_census: Callable[[], Mapping[str, int] | None] | None = None,
    ) -> None:
        # `*_created` series double what every scrape encodes and no dashboard here uses them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry = CollectorRegistry()
        self._children: dict[tuple[Counter | Gauge | Histogram, tuple[str, ...]], Any] = {}
        self.text = TextEncoder()
        registry.register(NotifierCollector(notifier_stats))
        if history_stats is not None:
            registry.register(HistoryCollector(history_stats))
        if check_in_stats is not None and device_census is not None:
            registry.register(CheckInCollector(check_in_stats, device_census))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        Gauge(
            "iot_support_build_info",
            "Always 1; the labels say which build is running.",
            ["version", "python"],
            registry=registry,
        ).labels(version, platform.python_version()).set(1)
        self.operations = Counter(
            "iot_config_operations_total",
            "Config operations by outcome (success, or the error code in lower case).",
            ["operation", "status"],
            registry=registry,
        )
        self.operation_duration = Histogram(
            "iot_config_operation_duration_seconds",
            "Time spent in config operations, including storage I/O.",
            ["operation"],
            registry=registry,
            buckets=OPERATION_BUCKETS,
        )
        self.files = Gauge(
            "iot_config_files_count",
            "Configs in the configs directory, counted as GET /api/configs counts them (at "
            "scrape time); NaN while the directory cannot be listed.",
            registry=registry,
        )
        self.skipped = Gauge(
            "iot_config_files_skipped",
            "Entries of the configs directory that GET /api/configs leaves out, by reason (at "
            "scrape time): state, so an alert holds while the files stay broken.",
            ["reason"],
            registry=registry,
        )
        # The reasons the repository can give (its labels), each a series at 0 from the start.
        self._skipped_reasons: set[str] = set(skip_reasons)
        self._seen: ConfigListing | None = None
        self._seen_at = -math.inf  # time.monotonic() of the latest storage_seen
        self.readable = Gauge(
            "iot_storage_readable",
            "1 when the configs directory could be listed at scrape time.",
            registry=registry,
        )
        self.writable = Gauge(
            "iot_storage_writable",
            "1 when the latest write worked: a save or delete, or a probe write made when "
            "there was none in the last 30 s.",
            registry=registry,
        )
        self.storage_errors = Counter(
            "iot_storage_errors_total",
            "Config operations that storage failed, by kind (directory_missing, disk_full, ...); "
            "health probes and scrapes are not counted (see iot_storage_readable).",
            ["kind"],
            registry=registry,
        )
        self.not_modified = Counter(
            "iot_config_not_modified_total",
            "Conditional GETs answered 304 Not Modified, by route.",
            ["route"],
            registry=registry,
        )
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration, from routing to the response, by method and route template.",
            ["method", "route"],
            registry=registry,
            buckets=OPERATION_BUCKETS,
        )
        # Requests being answered, counted by the event loop's thread alone, so a plain int
        # does: read at scrape time, it spares every request two locked gauge updates.
        self.requests_in_progress = 0
        Gauge(
            "http_requests_in_progress",
            "HTTP requests being handled right now.",
            registry=registry,
        ).set_function(lambda: self.requests_in_progress)
        self.response_bytes = Counter(
            "http_response_body_bytes_total",
            "Response body bytes sent, by method and route template.",
            ["method", "route"],
            registry=registry,
        )

        for operation in OPERATIONS:
            self._child(self.operations, operation, "success")
        for failure in StorageFailure:
            self._child(self.storage_errors, failure.value)
        for reason in self._skipped_reasons:
            self._child(self.skipped, reason).set(0)
        # The routes that answer conditional GETs: their 304 series exist at 0 from the start.
        for route in conditional_routes:
            self._child(self.not_modified, route)

    def operation_done(self, name: str, seconds: float, outcome: str) -> None:
        """Count a config operation under its outcome (`success`, or its error code)."""
        self._child(self.operation_duration, name).observe(seconds)
        self._child(self.operations, name, outcome).inc()

    def storage_failed(self, kind: str) -> None:
        """Count a config operation that storage failed."""
        self._child(self.storage_errors, kind).inc()

    def storage_seen_within(self, seconds: float) -> bool:
        return time.monotonic() - self._seen_at < seconds

    def storage_seen(self, listing: ConfigListing | None) -> None:
        """Set the storage gauges from a listing, a scrape's or the list's (None: it could not be
        listed); a skipped reason no longer seen goes to 0."""
        self._seen_at = time.monotonic()
        self.readable.set(listing is not None)
        if listing is None:
            self.files.set(float("nan"))
            self._seen = None
            return
        if listing is self._seen:
            return  # The repository handed back the same listing: nothing changed.
        self._seen = listing
        self.files.set(len(listing.summaries))
        now = collections.Counter(item.problem for item in listing.skipped)
        self._skipped_reasons |= now.keys()
        for reason in self._skipped_reasons:
            self._child(self.skipped, reason).set(now.get(reason, 0))

    def writes_seen(self, working: bool) -> None:
        self.writable.set(working)

    def record_request(
        self, method: str, route: str, status: int, seconds: float, body_bytes: int
    ) -> None:
        if method not in HTTP_METHODS:
            method = OTHER_METHOD
        self._child(self.requests, method, route, str(status)).inc()
        self._child(self.request_duration, method, route).observe(seconds)
        if status == 304:
            self._child(self.not_modified, route).inc()
        if body_bytes:
            self._child(self.response_bytes, method, route).inc(body_bytes)

    def _child(self, family: Counter | Gauge | Histogram, *labels: str) -> Any:
        """The series of `family` for these label values, looked up once: `labels()` checks and
        locks on every call, which was most of what metrics cost a device fetch. Label values
        are bounded (route templates, known methods, status codes), and so is this memo."""
        key = (family, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child


class DeliveryCounts(Protocol):
    """What a notifier that counts (the MQTT one) reports."""

    @property
    def connected(self) -> bool: ...

    @property
    def published(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def dropped(self) -> int: ...


@attrs.frozen
class NothingDelivered:
    """The counts while notifications are off: the series exist, at zero."""

    connected: bool = False
    published: int = 0
    failed: int = 0
    dropped: int = 0


class NotifierCollector(Collector):
    """The notifier's counts, read when scraped."""

    def __init__(self, stats: Callable[[], DeliveryCounts] | None) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats() if self._stats is not None else NothingDelivered()
        # Without it, notifications switched off and a broker that is down look the same.
        yield GaugeMetricFamily(
            "iot_mqtt_enabled",
            "1 when notifications are configured (MQTT_URL is set).",
            value=int(self._stats is not None),
        )
        yield GaugeMetricFamily(
            "iot_mqtt_connected",
            "1 while connected to the MQTT broker.",
            value=int(stats.connected),
        )
        for name, value, text in (
            ("published", stats.published, "Config updates published (both topics)."),
            ("failed", stats.failed, "Publishes interrupted by a broker problem (retried)."),
            ("dropped", stats.dropped, "Updates dropped because the queue was full."),
        ):
            yield CounterMetricFamily(f"iot_mqtt_messages_{name}", text, value=value)


class HistoryCounts(Protocol):
    """What the history of a repository that keeps one reports."""

    @property
    def recorded(self) -> Mapping[str, int]: ...

    @property
    def pruned(self) -> int: ...

    @property
    def bytes_on_disk(self) -> int | None: ...


class HistoryCollector(Collector):
    """History's counts, read when scraped. Its size on disk is the share's (every replica
    reports the same), measured at most once a minute; NaN until first measured."""

    def __init__(self, stats: Callable[[], HistoryCounts]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        recorded = CounterMetricFamily(
            "iot_history_revisions_recorded",
            "Revisions this replica recorded, by operation (save, patch, delete, restore; "
            "external: a version another program wrote, found before our next write).",
            labels=["operation"],
        )
        for operation, count in sorted(stats.recorded.items()):
            recorded.add_metric([operation], count)
        yield recorded
        yield CounterMetricFamily(
            "iot_history_revisions_pruned",
            "Revisions this replica removed by retention (HISTORY_MAX_REVISIONS, _MAX_AGE_DAYS).",
            value=stats.pruned,
        )
        size = stats.bytes_on_disk
        yield GaugeMetricFamily(
            "iot_history_bytes",
            "Bytes the history holds on the share (all configs, all replicas), measured at "
            "most once a minute.",
            value=float("nan") if size is None else size,
        )


class CheckInCounts(Protocol):
    """What a check-in log that counts (the filesystem's) reports."""

    @property
    def recorded(self) -> int: ...

    @property
    def written(self) -> int: ...

    @property
    def dropped(self) -> int: ...

    @property
    def pending(self) -> int: ...


# The states of `iot_devices`, each a series from the start.
DEVICE_STATES = tuple(state.value for state in DeviceState)


class CheckInCollector(Collector):
    """Device check-ins, read when scraped: this replica's counts, and the devices by state as
    the last flush counted them (every replica reports the same fleet; NaN until counted)."""

    def __init__(
        self,
        stats: Callable[[], CheckInCounts],
        census: Callable[[], Mapping[str, int] | None],
    ) -> None:
        self._stats = stats
        self._census = census

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        yield CounterMetricFamily(
            "iot_checkins_recorded",
            "Device downloads (200, 304, 404) this replica recorded as check-ins.",
            value=stats.recorded,
        )
        yield CounterMetricFamily(
            "iot_checkins_written",
            "Device check-in files this replica wrote to the share.",
            value=stats.written,
        )
        yield CounterMetricFamily(
            "iot_checkins_dropped",
            "Check-ins dropped: unknown devices beyond the cap (the oldest first), or a flood "
            "beyond what one flush interval may hold.",
            value=stats.dropped,
        )
        yield GaugeMetricFamily(
            "iot_checkins_pending",
            "Check-ins recorded and not flushed yet.",
            value=stats.pending,
        )
        census = self._census()
        devices = GaugeMetricFamily(
            "iot_devices",
            "Devices by state (in_sync, out_of_sync, never_seen, unknown, overdue), as counted "
            "after the latest flush; NaN until counted or while the count fails.",
            labels=["state"],
        )
        for state in DEVICE_STATES:
            devices.add_metric([state], float("nan") if census is None else census.get(state, 0))
        yield devices
