"""Undo over the app, on a real directory: restore (and undelete), diffs between revisions, the
deleted configs, `HISTORY=off`, and history's metrics."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from quart.typing import TestClientProtocol as Client

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.conftest import MAC, OTHER_MAC
from tests.fakes import RecordingNotifier
from tests.http.test_configs_api import assert_error, put

CONFIG = f"/api/configs/{MAC}"
HISTORY = f"{CONFIG}/history"
RESTORE = f"{CONFIG}/restore"


async def revisions(client: Client, mac: str = MAC) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        await (await client.get(f"/api/configs/{mac}/history")).get_json()
    )["revisions"]
    return found


async def three_versions(client: Client) -> list[dict[str, Any]]:
    """Saves v1, v2, v3; the revisions oldest first."""
    for version in (1, 2, 3):
        assert (await put(client, MAC, {"v": version, "name": f"v{version}"})).status_code == 200
    return list(reversed(await revisions(client)))


def app_with(configs_dir: Path, **settings: Any) -> tuple[Client, RecordingNotifier]:
    notifier = RecordingNotifier()
    container = bootstrap(Settings(configs_dir=configs_dir, **settings), notifier=notifier)
    return create_app(container).test_client(), notifier


# Restore


async def test_restore_stores_the_revisions_bytes_again_answers_like_put_and_announces(
    configs_dir: Path,
) -> None:
    client, notifier = app_with(configs_dir)
    first, second, _ = await three_versions(client)
    kept = await (await client.get(f"{HISTORY}/{second['revision']}.json")).get_data()

    response = await client.post(RESTORE, json={"revision": second["revision"]})
    assert response.status_code == 200
    body = await response.get_json()
    assert body["content"] == {"v": 2, "name": "v2"}
    assert body["mac_address"] == MAC
    assert response.headers["ETag"] == second["etag"]
    assert "Last-Modified" in response.headers
    # Devices get exactly the bytes they got then.
    served = await client.get(f"{CONFIG}.json")
    assert await served.get_data() == kept
    assert (configs_dir / f"{MAC}.json").read_bytes() == kept
    newest = (await revisions(client))[0]
    assert (newest["operation"], newest["current"], newest["etag"]) == (
        "restore",
        True,
        second["etag"],
    )
    assert [stored.config.content for stored in notifier.saved][-1] == {"v": 2, "name": "v2"}
    assert first["revision"] < second["revision"] < newest["revision"]


async def test_restore_brings_back_a_deleted_config(configs_dir: Path) -> None:
    client, notifier = app_with(configs_dir)
    _, _, third = await three_versions(client)
    assert (await client.delete(CONFIG)).status_code == 204
    deleted = await (await client.get("/api/history/deleted")).get_json()
    assert deleted["count"] == 1
    assert deleted["configs"][0]["mac_address"] == MAC

    response = await client.post(
        RESTORE, json={"revision": third["revision"]}, headers={"If-None-Match": "*"}
    )
    assert response.status_code == 200
    assert (await client.get(f"{CONFIG}.json")).status_code == 200
    assert json.loads((configs_dir / f"{MAC}.json").read_bytes()) == {"v": 3, "name": "v3"}
    assert (await (await client.get("/api/history/deleted")).get_json())["count"] == 0
    assert notifier.saved[-1].config.content == {"v": 3, "name": "v3"}
    assert [r["operation"] for r in await revisions(client)][:2] == ["restore", "delete"]


async def test_restoring_a_delete_revision_is_400_and_changes_nothing(client: Client) -> None:
    await put(client, MAC, {"v": 1})
    await client.delete(CONFIG)
    delete = (await revisions(client))[0]
    response = await client.post(RESTORE, json={"revision": delete["revision"]})
    assert response.status_code == 400
    body = await response.get_json()
    assert_error(body, "VALIDATION_FAILED")
    assert "is a delete and holds no config to restore" in body["error"]
    assert "The revision before it holds what was deleted" in body["error"]
    assert (await client.get(CONFIG)).status_code == 404
    assert len(await revisions(client)) == 2


async def test_restoring_an_unknown_revision_is_404_and_changes_nothing(
    client: Client, configs_dir: Path
) -> None:
    await put(client, MAC, {"v": 1})
    before = (configs_dir / f"{MAC}.json").read_bytes()
    response = await client.post(RESTORE, json={"revision": "000000000042"})
    assert response.status_code == 404
    assert_error(await response.get_json(), "RECORD_NOT_FOUND")
    unknown_device = await client.post(
        f"/api/configs/{OTHER_MAC}/restore", json={"revision": "000000000001"}
    )
    assert unknown_device.status_code == 404
    assert (configs_dir / f"{MAC}.json").read_bytes() == before
    assert len(await revisions(client)) == 1


async def test_restore_honours_if_match_and_if_none_match(
    client: Client, configs_dir: Path
) -> None:
    first, _, third = await three_versions(client)
    before = (configs_dir / f"{MAC}.json").read_bytes()
    stale = await client.post(
        RESTORE, json={"revision": first["revision"]}, headers={"If-Match": first["etag"]}
    )
    assert stale.status_code == 412
    assert_error(await stale.get_json(), "PRECONDITION_FAILED")
    exists = await client.post(
        RESTORE, json={"revision": first["revision"]}, headers={"If-None-Match": "*"}
    )
    assert exists.status_code == 412
    assert (configs_dir / f"{MAC}.json").read_bytes() == before
    assert len(await revisions(client)) == 3

    matching = await client.post(
        RESTORE, json={"revision": first["revision"]}, headers={"If-Match": third["etag"]}
    )
    assert matching.status_code == 200
    assert matching.headers["ETag"] == first["etag"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Field 'revision' is required."),
        ({"revision": 1}, "Field 'revision' must be a revision id"),
        ({"revision": "latest"}, "not 'latest'"),
        ({"revision": "000000000001", "x": 1}, "Unknown field 'x'"),
        ([], "must be a JSON object"),
    ],
)
async def test_a_bad_restore_body_is_400_saying_why(
    client: Client, body: Any, message: str
) -> None:
    await put(client, MAC, {"v": 1})
    response = await client.post(RESTORE, json=body)
    assert response.status_code == 400
    answer = await response.get_json()
    assert_error(answer, "VALIDATION_FAILED")
    assert message in answer["error"]
    assert len(await revisions(client)) == 1


async def test_a_restore_body_must_be_json(client: Client) -> None:
    response = await client.post(RESTORE, data="revision=000000000001")
    assert response.status_code == 415
    assert_error(await response.get_json(), "UNSUPPORTED_MEDIA_TYPE")


async def test_restore_is_post_only_and_is_no_config_route(client: Client) -> None:
    await put(client, MAC, {"v": 1})
    response = await client.get(RESTORE)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    # Nor does PUT reach the config route with "<mac>/restore" as its MAC.
    assert (await client.put(RESTORE, json={"content": {}})).status_code == 405


async def test_a_bad_mac_on_restore_is_400(client: Client) -> None:
    response = await client.post("/api/configs/zz/restore", json={"revision": "000000000001"})
    assert response.status_code == 400
    assert_error(await response.get_json(), "INVALID_OPERATION")


async def test_a_restored_revision_of_another_programs_bytes_that_are_no_object_is_400(
    client: Client, configs_dir: Path
) -> None:
    await put(client, MAC, {"v": 1})
    (configs_dir / f"{MAC}.json").write_text("[1, 2]\n")
    await put(client, MAC, {"v": 2})  # records the array as `external`
    external = (await revisions(client))[1]
    assert external["operation"] == "external"
    response = await client.post(RESTORE, json={"revision": external["revision"]})
    assert response.status_code == 400
    assert "not a JSON object" in (await response.get_json())["error"]
    assert json.loads((configs_dir / f"{MAC}.json").read_bytes()) == {"v": 2}


# Diff


async def test_a_diff_is_a_json_patch_to_the_current_version_by_default(client: Client) -> None:
    first, second, _ = await three_versions(client)
    await client.patch(
        CONFIG,
        json={"name": None, "wifi": {"ssid": "lab"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    response = await client.get(f"{HISTORY}/{first['revision']}/diff")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json-patch+json"
    patch = await response.get_json()
    assert sorted(patch, key=lambda op: op["path"]) == [
        {"op": "remove", "path": "/name"},
        {"op": "replace", "path": "/v", "value": 3},
        {"op": "add", "path": "/wifi", "value": {"ssid": "lab"}},
    ]
    current = await (await client.get(CONFIG)).get_json()
    assert jsonpatch.apply_patch({"v": 1, "name": "v1"}, patch) == current["content"]

    between = await client.get(f"{HISTORY}/{first['revision']}/diff?to={second['revision']}")
    assert sorted(await between.get_json(), key=lambda op: op["path"]) == [
        {"op": "replace", "path": "/name", "value": "v2"},
        {"op": "replace", "path": "/v", "value": 2},
    ]
    same = await client.get(f"{HISTORY}/{second['revision']}/diff?to={second['revision']}")
    assert await same.get_json() == []


async def test_a_diff_with_a_delete_is_400_and_with_a_deleted_current_404(
    client: Client,
) -> None:
    await put(client, MAC, {"v": 1})
    await client.delete(CONFIG)
    delete, save = await revisions(client)
    to_delete = await client.get(f"{HISTORY}/{save['revision']}/diff?to={delete['revision']}")
    assert to_delete.status_code == 400
    body = await to_delete.get_json()
    assert_error(body, "VALIDATION_FAILED")
    assert "holds no config to compare" in body["error"]
    from_delete = await client.get(f"{HISTORY}/{delete['revision']}/diff?to={save['revision']}")
    assert from_delete.status_code == 400
    to_current = await client.get(f"{HISTORY}/{save['revision']}/diff")
    assert to_current.status_code == 404
    assert_error(await to_current.get_json(), "RECORD_NOT_FOUND")


@pytest.mark.parametrize("to", ["latest", "1", "000000000001x", ""])
async def test_a_bad_diff_target_is_400_naming_to(client: Client, to: str) -> None:
    await put(client, MAC, {"v": 1})
    response = await client.get(f"{HISTORY}/000000000001/diff?to={to}")
    assert response.status_code == 400
    body = await response.get_json()
    assert_error(body, "VALIDATION_FAILED")
    assert [item["field"] for item in body["details"]["errors"]] == ["to"]


async def test_a_diff_of_an_unknown_revision_is_404(client: Client) -> None:
    await put(client, MAC, {"v": 1})
    for path in ("000000000009/diff", "000000000001/diff?to=000000000009"):
        response = await client.get(f"{HISTORY}/{path}")
        assert response.status_code == 404
        assert_error(await response.get_json(), "RECORD_NOT_FOUND")


async def test_a_diff_of_versions_too_large_to_compare_is_400(client: Client) -> None:
    await put(client, MAC, {"v": 1})
    await put(client, MAC, {"items": list(range(20_000))})  # about 140 kB stored
    first = (await revisions(client))[-1]
    response = await client.get(f"{HISTORY}/{first['revision']}/diff")
    assert response.status_code == 400
    body = await response.get_json()
    assert_error(body, "VALIDATION_FAILED")
    assert "diffs are computed for versions of at most 65536 bytes" in body["error"]


# Deleted configs


async def test_deleted_configs_are_listed_newest_first_until_brought_back(
    client: Client, configs_dir: Path
) -> None:
    assert await (await client.get("/api/history/deleted")).get_json() == {
        "configs": [],
        "count": 0,
    }
    for mac in (MAC, OTHER_MAC):
        await put(client, mac, {"v": 1})
        await client.delete(f"/api/configs/{mac}")
    await put(client, "02-00-00-00-00-01", {"kept": True})
    body = await (await client.get("/api/history/deleted")).get_json()
    assert body["count"] == 2
    assert [item["mac_address"] for item in body["configs"]] == [OTHER_MAC, MAC]
    newest_of_mac = (await revisions(client))[0]
    assert body["configs"][1]["revision"] == newest_of_mac["revision"]
    assert body["configs"][1]["deleted_at"] == newest_of_mac["saved_at"]

    # Another program writes the file again: it is no longer deleted.
    (configs_dir / f"{OTHER_MAC}.json").write_text('{"by": "hand"}\n')
    body = await (await client.get("/api/history/deleted")).get_json()
    assert [item["mac_address"] for item in body["configs"]] == [MAC]


# HISTORY=off


async def test_with_history_off_nothing_is_recorded_and_the_routes_are_404(
    configs_dir: Path,
) -> None:
    client, _ = app_with(configs_dir, history=False)
    await put(client, MAC, {"v": 1})
    await put(client, MAC, {"v": 2})
    assert (await client.delete(CONFIG)).status_code == 204
    assert not (configs_dir / ".history").exists()
    for method, path in (
        ("GET", HISTORY),
        ("GET", f"{HISTORY}/000000000001"),
        ("GET", f"{HISTORY}/000000000001.json"),
        ("GET", f"{HISTORY}/000000000001/diff"),
        ("POST", RESTORE),
        ("GET", "/api/history/deleted"),
    ):
        response = await client.open(path, method=method, json={"revision": "000000000001"})
        assert response.status_code == 404, path
        assert_error(await response.get_json(), "NOT_FOUND")
    document = await (await client.get("/api/openapi.json")).get_json()
    assert not [path for path in document["paths"] if "history" in path or "restore" in path]
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert "iot_history_" not in metrics


# Metrics


def sample(metrics: str, series: str) -> float:
    for line in metrics.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    raise AssertionError(f"{series} not exported")


RECORDED = 'iot_history_revisions_recorded_total{operation="%s"}'


async def test_history_metrics_count_what_was_recorded_and_pruned(
    configs_dir: Path,
) -> None:
    client, _ = app_with(configs_dir, history_max_revisions=2)
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    for operation in ("save", "patch", "delete", "restore", "external"):
        assert sample(metrics, RECORDED % operation) == 0
    assert sample(metrics, "iot_history_revisions_pruned_total") == 0
    # Measured in the background from the first scrape on: unknown until then.
    assert math.isnan(sample(metrics, "iot_history_bytes"))

    await put(client, MAC, {"v": 1})
    (configs_dir / f"{MAC}.json").write_text('{"by": "hand"}\n')
    await put(client, MAC, {"v": 2})
    await client.delete(CONFIG)
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert sample(metrics, RECORDED % "save") == 2
    assert sample(metrics, RECORDED % "external") == 1
    assert sample(metrics, RECORDED % "delete") == 1
    assert sample(metrics, "iot_history_revisions_pruned_total") == 2
    # The first scrape's measure runs in the background: its figure shows once it is done.
    deadline = time.monotonic() + 5
    while math.isnan(sample(metrics, "iot_history_bytes")):
        assert time.monotonic() < deadline, "the history's size was never measured"
        await asyncio.sleep(0.02)
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert sample(metrics, "iot_history_bytes") >= 0


async def test_a_history_page_asked_again_follows_every_change(
    client: Client, configs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The encoded page is kept only for the very page the repository hands back."""
    monkeypatch.setattr("adapters.filesystem.history.settled", lambda *_: True)
    await put(client, MAC, {"v": 1})
    first = await (await client.get(HISTORY)).get_data()
    assert await (await client.get(HISTORY)).get_data() == first
    await put(client, MAC, {"v": 2})
    assert len(await revisions(client)) == 2
    (configs_dir / f"{MAC}.json").write_text('{"by": "hand"}\n')
    assert [r["current"] for r in await revisions(client)] == [False, False]
