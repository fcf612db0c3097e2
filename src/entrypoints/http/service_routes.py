"""The service's own routes: the health probe for Kubernetes and `/metrics` for Prometheus."""

from __future__ import annotations

from prometheus_client.exposition import choose_encoder, generate_latest
from quart import Blueprint, Response, request
from quart_schema import document_response, tag

from entrypoints.http.dependencies import resolve
from entrypoints.http.responses import respond
from entrypoints.http.route_docs import describe
from entrypoints.http.schemas import HealthOut, UnhealthyOut
from entrypoints.http.storage_checks import StorageChecks
from entrypoints.observability.correlation import correlation_id
from entrypoints.observability.metrics import Metrics

blueprint = Blueprint("service", __name__)

HEALTH_ROUTE = "/api/health"


@blueprint.get(HEALTH_ROUTE)
@document_response(HealthOut)
@document_response(UnhealthyOut, 503)
@tag(["service"])
async def health() -> Response:
    """Health probe for Kubernetes (liveness and readiness).

    `200` when the configs directory exists, is a directory and can be listed; `503` otherwise,
    with `reason`: `directory_missing`, `not_a_directory`, `permission_denied`, `io_error`,
    `bad_lock_directory`, or `timeout` when the check takes longer than the configured bound
    (a hanging network filesystem).

    A replica that can read keeps serving devices, so a full disk or a read-only mount does not
    make it unhealthy: the 200 body's `writes` says so instead, `{"status": "failing",
    "reason": "disk_full", ...}` (or `read_only`, `permission_denied`, `io_error`, `timeout`),
    from the latest save or delete, or from a probe write made when there was none in the last
    30 seconds. Both checks share the bound: the answer never takes longer than it.
    """
    return respond(await resolve(StorageChecks).health(correlation_id()))


@blueprint.get("/metrics")
@tag(["service"])
@describe(
    empty={
        200: "The metrics in Prometheus' text format (`text/plain; version=0.0.4`), or "
        "OpenMetrics when `Accept` asks for it (Prometheus does)."
    }
)
async def metrics() -> Response:
    """Prometheus exposition of the service's metrics (OpenMetrics when the scraper asks).

    Scraped by Prometheus; `README.md` lists the series.
    """
    registry = resolve(Metrics)
    # Always answered: the scrape must show the process is alive while storage is not.
    await resolve(StorageChecks).observe(registry)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    if encoder is generate_latest:
        encoder = registry.text.encode
    return Response(encoder(registry.registry), content_type=content_type)
