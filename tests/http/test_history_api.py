"""`GET /api/configs/{mac_address}/history` over the app: what each write records, paging, and
errors in the envelope."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.conftest import MAC, OTHER_MAC
from tests.http.test_configs_api import assert_error, put

HISTORY = f"/api/configs/{MAC}/history"
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def test_each_write_is_a_revision_newest_first_with_who_asked(client: Client) -> None:
    saved = await put(client, MAC, {"v": 1})
    await client.patch(
        f"/api/configs/{MAC}",
        json={"v": 2},
        headers={"X-Request-ID": "edit-2", "Content-Type": "application/merge-patch+json"},
    )
    patched_etag = (await client.get(f"/api/configs/{MAC}")).headers["ETag"]
    response = await client.get(HISTORY)
    assert response.status_code == 200
    body = await response.get_json()
    assert body["mac_address"] == MAC
    assert body["count"] == 2
    newest, oldest = body["revisions"]
    assert (newest["operation"], oldest["operation"]) == ("patch", "save")
    assert (newest["current"], oldest["current"]) == (True, False)
    assert newest["etag"] == patched_etag
    assert oldest["etag"] == saved.headers["ETag"]
    assert newest["correlation_id"] == "edit-2"
    assert newest["client"] == "<local>"
    assert newest["user"] is None
    assert RFC3339_UTC.fullmatch(newest["saved_at"])
    assert newest["size"] > 0
    assert newest["revision"] > oldest["revision"]


async def test_a_deleted_config_keeps_its_history(client: Client) -> None:
    await put(client, MAC, {"v": 1})
    assert (await client.delete(f"/api/configs/{MAC}")).status_code == 204
    body = await (await client.get(HISTORY)).get_json()
    assert [r["operation"] for r in body["revisions"]] == ["delete", "save"]
    assert [r["current"] for r in body["revisions"]] == [False, False]
    assert body["revisions"][0]["size"] == 0


async def test_pages_follow_before(client: Client) -> None:
    for version in range(4):
        await put(client, MAC, {"v": version})
    first = await (await client.get(f"{HISTORY}?limit=3")).get_json()
    assert first["count"] == 3
    last = first["revisions"][-1]["revision"]
    rest = await (await client.get(f"{HISTORY}?limit=3&before={last}")).get_json()
    assert rest["count"] == 1
    assert rest["revisions"][0]["revision"] < last


async def test_an_unknown_device_is_404_in_the_envelope(client: Client) -> None:
    response = await client.get(f"/api/configs/{OTHER_MAC}/history")
    assert response.status_code == 404
    assert_error(await response.get_json(), "RECORD_NOT_FOUND")


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("before=abc", "before")],
)
async def test_a_bad_query_is_400_naming_the_parameter(
    client: Client, query: str, field: str
) -> None:
    await put(client, MAC, {"v": 1})
    response = await client.get(f"{HISTORY}?{query}")
    assert response.status_code == 400
    body = await response.get_json()
    assert_error(body, "VALIDATION_FAILED")
    assert [item["field"] for item in body["details"]["errors"]] == [field]


async def test_a_bad_mac_is_400_as_on_every_config_route(client: Client) -> None:
    response = await client.get("/api/configs/zz/history")
    assert response.status_code == 400
    assert_error(await response.get_json(), "INVALID_OPERATION")


async def test_the_history_route_is_not_a_config_route(client: Client) -> None:
    """`<mac>/history` must not reach the config routes as a MAC that fails to parse."""
    await put(client, MAC, {"v": 1})
    response = await client.put(HISTORY, json={"content": {}})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


async def test_the_user_a_trusted_proxy_names_is_kept(tmp_path: Path) -> None:
    settings = Settings(configs_dir=tmp_path, trust_proxy_headers=True)
    client = create_app(bootstrap(settings)).test_client()
    await client.put(
        f"/api/configs/{MAC}",
        json={"content": {}},
        headers={"Remote-User": "alice", "X-Forwarded-For": "203.0.113.9, 192.0.2.1"},
    )
    newest = (await (await client.get(HISTORY)).get_json())["revisions"][0]
    assert (newest["user"], newest["client"]) == ("alice", "192.0.2.1")


async def test_an_untrusted_request_cannot_name_a_user(client: Client) -> None:
    await client.put(f"/api/configs/{MAC}", json={"content": {}}, headers={"Remote-User": "eve"})
    newest = (await (await client.get(HISTORY)).get_json())["revisions"][0]
    assert newest["user"] is None


async def test_one_revision_with_its_content_and_its_file(client: Client) -> None:
    await put(client, MAC, {"v": 1, "name": "first"})
    await put(client, MAC, {"v": 2})
    oldest = (await (await client.get(HISTORY)).get_json())["revisions"][-1]
    response = await client.get(f"{HISTORY}/{oldest['revision']}")
    assert response.status_code == 200
    detail = await response.get_json()
    assert detail["content"] == {"v": 1, "name": "first"}
    assert (detail["operation"], detail["current"]) == ("save", False)
    assert {k: v for k, v in detail.items() if k != "content"} == oldest

    raw = await client.get(f"{HISTORY}/{oldest['revision']}.json")
    assert raw.status_code == 200
    assert raw.headers["ETag"] == oldest["etag"]
    assert raw.headers["Content-Type"] == "application/json"
    assert await raw.get_data() == b'{\n  "v": 1,\n  "name": "first"\n}\n'


async def test_a_delete_revision_has_null_content_and_no_file(client: Client) -> None:
    await put(client, MAC, {"v": 1})
    await client.delete(f"/api/configs/{MAC}")
    newest = (await (await client.get(HISTORY)).get_json())["revisions"][0]
    detail = await (await client.get(f"{HISTORY}/{newest['revision']}")).get_json()
    assert (detail["operation"], detail["content"]) == ("delete", None)
    raw = await client.get(f"{HISTORY}/{newest['revision']}.json")
    assert raw.status_code == 404
    body = await raw.get_json()
    assert_error(body, "RECORD_NOT_FOUND")
    assert "is a delete; it kept no file" in body["error"]


@pytest.mark.parametrize("revision", ["000000000009", "000000000009.json"])
async def test_an_unknown_revision_is_404(client: Client, revision: str) -> None:
    await put(client, MAC, {"v": 1})
    response = await client.get(f"{HISTORY}/{revision}")
    assert response.status_code == 404
    assert_error(await response.get_json(), "RECORD_NOT_FOUND")


async def test_a_revision_file_is_not_taken_for_a_device_file(client: Client) -> None:
    """`<mac>/history/<revision>.json` must not reach the device-file route (either lane) as
    a MAC that fails to parse."""
    await put(client, MAC, {"v": 1})
    revision = (await (await client.get(HISTORY)).get_json())["revisions"][0]["revision"]
    response = await client.get(f"{HISTORY}/{revision}.json")
    assert response.status_code == 200
    assert (await client.get(f"/api/configs/{MAC}.json")).status_code == 200
