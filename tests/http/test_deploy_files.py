"""The Grafana dashboard and the alert rules use only metrics and labels the service exports."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families
from quart.typing import TestClientProtocol as Client

from tests.conftest import MAC

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Series Prometheus makes itself, not the service.
PROMETHEUS_OWN = {"up"}
METRIC = re.compile(r"\b((?:iot|http|process|python)_[a-z_]+|up)\b")
ROUTE_MATCHER = re.compile(r'route="([^"]+)"')


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "iot-support-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "iot-support-alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


async def exported_series(client: Client, configs_dir: Path) -> tuple[set[str], set[str]]:
    """Exercise every code path that creates a series, then scrape: sample names and routes."""
    etag = (await client.put(f"/api/configs/{MAC}", json={"content": {}})).headers["ETag"]
    await client.get(f"/api/configs/{MAC}.json", headers={"If-None-Match": etag})
    (configs_dir / "00-00-00-00-00-01.json").write_text("[]")
    await client.get("/api/configs")
    shutil.rmtree(configs_dir)
    await client.get("/api/configs")
    text = await (await client.get("/metrics")).get_data(as_text=True)
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    return {s.name for s in samples}, {s.labels["route"] for s in samples if "route" in s.labels}


def test_the_deploy_files_have_expressions() -> None:
    assert len(dashboard_expressions()) >= 10
    assert len(alert_expressions()) >= 5


async def test_every_metric_and_route_they_use_is_exported(
    client: Client, configs_dir: Path
) -> None:
    names, routes = await exported_series(client, configs_dir)
    for expression in dashboard_expressions() + alert_expressions():
        for metric in METRIC.findall(expression):
            assert metric in names | PROMETHEUS_OWN, f"{metric} (in {expression!r}) is not exported"
        for route in ROUTE_MATCHER.findall(expression):
            assert route in routes, f"route {route!r} (in {expression!r}) is not a route label"
