from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    disable_created_metrics,
)
from prometheus_client.exposition import generate_latest

from entrypoints.observability.exposition import TextEncoder
from entrypoints.observability.metrics import Metrics


def plain_registry() -> CollectorRegistry:
    disable_created_metrics()  # type: ignore[no-untyped-call]  # as the service does
    registry = CollectorRegistry()
    Counter("plain_events", "Events.", registry=registry).inc(3)
    counter = Counter("labelled_events", "Events by kind.", ["kind", "route"], registry=registry)
    counter.labels("ok", "/api/configs/<mac:mac_address>").inc()
    counter.labels('say "hi"', "back\\slash\nnew line").inc(2.5)
    counter.labels("ünïcode", "<unmatched>").inc(1e21)
    gauge = Gauge("level", 'Help with a back\\slash\nand "quotes".', ["zone"], registry=registry)
    gauge.labels("nan").set(math.nan)
    gauge.labels("inf").set(math.inf)
    gauge.labels("minus inf").set(-math.inf)
    gauge.labels("tiny").set(1.5e-7)
    gauge.labels("negative").set(-42)
    histogram = Histogram(
        "duration_seconds", "Durations.", ["route"], buckets=(0.001, 0.5, 1e7), registry=registry
    )
    histogram.labels("/a").observe(0.0002)
    histogram.labels("/b").observe(3)
    return registry


def test_the_output_is_byte_for_byte_prometheus_clients() -> None:
    registry = plain_registry()
    assert TextEncoder().encode(registry) == generate_latest(registry)


def test_values_are_read_on_every_scrape_while_series_are_remembered() -> None:
    registry = plain_registry()
    encoder = TextEncoder()
    first = encoder.encode(registry)
    Counter("late_events", "Registered after the first scrape.", registry=registry).inc()
    registry_counter = Counter("more_events", "More.", ["kind"], registry=registry)
    registry_counter.labels("new").inc(7)
    second = encoder.encode(registry)
    assert second != first
    assert second == generate_latest(registry)
    assert b'more_events_total{kind="new"} 7.0\n' in second


def test_families_it_was_not_written_for_go_to_prometheus_client() -> None:
    additions: tuple[Callable[[CollectorRegistry], None], ...] = (
        lambda r: Info("build", "Build.", registry=r).info({"version": "1"}),
        lambda r: Summary("latency", "Latency.", registry=r).observe(1),
        lambda r: Enum("state", "State.", states=["a", "b"], registry=r).state("b"),
    )
    for add in additions:
        registry = plain_registry()
        add(registry)
        assert TextEncoder().encode(registry) == generate_latest(registry)


def test_many_series_stay_correct_past_the_remembered_limit() -> None:
    registry = CollectorRegistry()
    counter = Counter("wide", "Wide.", ["id"], registry=registry)
    encoder = TextEncoder()
    for batch in range(3):
        for i in range(batch * 6_000, (batch + 1) * 6_000):
            counter.labels(str(i)).inc()
        assert encoder.encode(registry) == generate_latest(registry)


def test_the_services_registry_matches_apart_from_the_live_process_figures() -> None:
    metrics = Metrics(version="1.2.3")
    metrics.record_request("GET", "/api/configs/<path:mac_address>.json", 304, 0.0004, 0)
    metrics.record_request("PUT", "/api/configs/<mac:mac_address>", 200, 0.02, 350)
    metrics.operation_done("download", 0.0003, "success")

    def steady(exposition: bytes) -> list[bytes]:
        # CPU time and memory move between two scrapes; everything else must not.
        return [line for line in exposition.splitlines() if not line.startswith(b"process_")]

    ours = metrics.text.encode(metrics.registry)
    theirs = generate_latest(metrics.registry)
    assert steady(ours) == steady(theirs)
    assert len(ours.splitlines()) == len(theirs.splitlines())
