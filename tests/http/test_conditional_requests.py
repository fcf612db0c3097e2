"""ETags, conditional GETs and writes, merge patch and hostile bodies, through the test client."""

from __future__ import annotations

import json
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from entrypoints.app import create_app
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.conftest import MAC
from tests.files import entries

CONFIG = f"/api/configs/{MAC}"
FILE = f"/api/configs/{MAC}.json"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


async def create(client: Client, content: Any) -> str:
    response = await client.put(CONFIG, json={"content": content})
    assert response.status_code == 200
    return response.headers["ETag"]


def stored(configs_dir: Path) -> bytes:
    return (configs_dir / f"{MAC}.json").read_bytes()


# Validators


async def test_every_answer_about_one_version_carries_the_same_strong_etag(
    client: Client,
) -> None:
    etag = await create(client, {"v": 1})
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert not etag.startswith("W/")
    for path in (CONFIG, FILE):
        response = await client.get(path)
        assert response.headers["ETag"] == etag
        assert parsedate_to_datetime(response.headers["Last-Modified"])


async def test_etag_changes_with_the_content_and_only_with_it(client: Client) -> None:
    first = await create(client, {"v": 1})
    assert await create(client, {"v": 1}) == first
    assert await create(client, {"v": 2}) != first


async def test_etag_comes_from_the_bytes_so_other_tools_edits_change_it(
    client: Client, configs_dir: Path
) -> None:
    etag = await create(client, {"v": 1})
    (configs_dir / f"{MAC}.json").write_text('{"v": 1}')
    assert (await client.get(FILE)).headers["ETag"] != etag


async def test_validators_are_exposed_to_browsers(tmp_path: Path) -> None:
    app = create_app(bootstrap(Settings(configs_dir=tmp_path, cors_origins=("http://ui",))))
    response = await app.test_client().get("/api/health", headers={"Origin": "http://ui"})
    exposed = {
        h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"etag", "last-modified", "x-request-id"} <= exposed


# Conditional GET


@pytest.mark.parametrize("path", [CONFIG, FILE])
@pytest.mark.parametrize(
    "header",
    ["{etag}", '"nope", {etag}', "W/{etag}", "*", '"a",W/"b", {etag}'],
)
async def test_if_none_match_hit_is_304_without_body(
    client: Client, path: str, header: str
) -> None:
    etag = await create(client, {"v": 1})
    response = await client.get(path, headers={"If-None-Match": header.format(etag=etag)})
    assert response.status_code == 304
    assert await response.get_data() == b""
    assert response.headers["ETag"] == etag
    assert "Last-Modified" in response.headers


@pytest.mark.parametrize("path", [CONFIG, FILE])
async def test_if_none_match_miss_is_200(client: Client, path: str) -> None:
    await create(client, {"v": 1})
    response = await client.get(path, headers={"If-None-Match": '"something-else"'})
    assert response.status_code == 200


@pytest.mark.parametrize("path", [CONFIG, FILE])
async def test_if_modified_since_is_used_without_if_none_match(client: Client, path: str) -> None:
    await create(client, {"v": 1})
    modified = parsedate_to_datetime((await client.get(path)).headers["Last-Modified"])
    same = format_datetime(modified, usegmt=True)
    earlier = format_datetime(modified - timedelta(seconds=1), usegmt=True)
    assert (await client.get(path, headers={"If-Modified-Since": same})).status_code == 304
    assert (await client.get(path, headers={"If-Modified-Since": earlier})).status_code == 200
    both = {"If-Modified-Since": same, "If-None-Match": '"other"'}
    assert (await client.get(path, headers=both)).status_code == 200


async def test_conditional_get_of_a_missing_config_is_404(client: Client) -> None:
    response = await client.get(FILE, headers={"If-None-Match": "*"})
    assert response.status_code == 404


async def test_head_carries_the_validators(client: Client) -> None:
    etag = await create(client, {"v": 1})
    response = await client.head(FILE)
    assert response.status_code == 200
    assert response.headers["ETag"] == etag


# Conditional writes


async def test_put_with_the_current_etag_replaces(client: Client, configs_dir: Path) -> None:
    etag = await create(client, {"v": 1})
    response = await client.put(CONFIG, json={"content": {"v": 2}}, headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert json.loads(stored(configs_dir)) == {"v": 2}


@pytest.mark.parametrize("if_match", ['"stale"', "W/{etag}", '"a", "b"'])
async def test_put_with_a_stale_or_weak_etag_is_412_and_writes_nothing(
    client: Client, configs_dir: Path, if_match: str
) -> None:
    etag = await create(client, {"v": 1})
    before = stored(configs_dir)
    response = await client.put(
        CONFIG, json={"content": {"v": 2}}, headers={"If-Match": if_match.format(etag=etag)}
    )
    assert response.status_code == 412
    body = await response.get_json()
    assert body["code"] == "PRECONDITION_FAILED"
    assert "nothing was written" in body["error"]
    assert stored(configs_dir) == before


async def test_if_match_star_needs_an_existing_config(client: Client, configs_dir: Path) -> None:
    response = await client.put(CONFIG, json={"content": {}}, headers={"If-Match": "*"})
    assert response.status_code == 412
    assert entries(configs_dir) == []
    await create(client, {"v": 1})
    response = await client.put(CONFIG, json={"content": {}}, headers={"If-Match": "*"})
    assert response.status_code == 200


async def test_if_none_match_star_on_put_creates_only(client: Client, configs_dir: Path) -> None:
    response = await client.put(CONFIG, json={"content": {"v": 1}}, headers={"If-None-Match": "*"})
    assert response.status_code == 200
    before = stored(configs_dir)
    response = await client.put(CONFIG, json={"content": {"v": 2}}, headers={"If-None-Match": "*"})
    assert response.status_code == 412
    assert (await response.get_json())["code"] == "PRECONDITION_FAILED"
    assert stored(configs_dir) == before


async def test_allow_overwrite_false_still_answers_409(client: Client) -> None:
    await create(client, {"v": 1})
    response = await client.put(CONFIG, json={"content": {}, "allow_overwrite": False})
    assert response.status_code == 409


async def test_delete_with_a_stale_etag_is_412_and_keeps_the_file(
    client: Client, configs_dir: Path
) -> None:
    etag = await create(client, {"v": 1})
    await create(client, {"v": 2})
    response = await client.delete(CONFIG, headers={"If-Match": etag})
    assert response.status_code == 412
    assert json.loads(stored(configs_dir)) == {"v": 2}
    current = (await client.get(CONFIG)).headers["ETag"]
    assert (await client.delete(CONFIG, headers={"If-Match": current})).status_code == 204


# PATCH


async def test_patch_merges_and_answers_like_put(client: Client, configs_dir: Path) -> None:
    await create(client, {"deviceName": "old", "wifi": {"ssid": "a", "psk": "x"}, "gone": 1})
    response = await client.patch(
        CONFIG,
        data=b'{"deviceName": "new", "wifi": {"psk": null}, "gone": null, "added": [1]}',
        headers=MERGE_PATCH,
    )
    assert response.status_code == 200
    body = await response.get_json()
    expected = {"deviceName": "new", "wifi": {"ssid": "a"}, "added": [1]}
    assert body["content"] == expected
    assert body["device_name"] == "new"
    assert response.headers["ETag"] == (await client.get(FILE)).headers["ETag"]
    assert json.loads(stored(configs_dir)) == expected
    assert list(json.loads(stored(configs_dir))) == ["deviceName", "wifi", "added"]


async def test_patch_of_a_missing_config_is_404(client: Client, configs_dir: Path) -> None:
    response = await client.patch(CONFIG, data=b'{"a": 1}', headers=MERGE_PATCH)
    assert response.status_code == 404
    assert (await response.get_json())["code"] == "RECORD_NOT_FOUND"
    assert entries(configs_dir) == []


async def test_patch_sent_as_application_json_is_read_as_a_merge_patch(
    client: Client, configs_dir: Path
) -> None:
    """Generated clients send every body as application/json (API.md, part 2)."""
    await create(client, {"v": 1, "gone": True})
    response = await client.patch(
        CONFIG, data=b'{"v": 2, "gone": null}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert json.loads(stored(configs_dir)) == {"v": 2}


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
async def test_patch_with_another_media_type_is_415(
    client: Client, configs_dir: Path, content_type: str | None
) -> None:
    await create(client, {"v": 1})
    before = stored(configs_dir)
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await client.patch(CONFIG, data=b'{"v": 2}', headers=headers)
    assert response.status_code == 415
    assert (await response.get_json())["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert stored(configs_dir) == before


@pytest.mark.parametrize("patch", [b"[1, 2]", b'"text"', b"null", b"3"])
async def test_patch_leaving_no_object_is_400_and_writes_nothing(
    client: Client, configs_dir: Path, patch: bytes
) -> None:
    await create(client, {"v": 1})
    before = stored(configs_dir)
    response = await client.patch(CONFIG, data=patch, headers=MERGE_PATCH)
    assert response.status_code == 400
    assert (await response.get_json())["code"] == "VALIDATION_FAILED"
    assert stored(configs_dir) == before


async def test_patch_with_a_stale_etag_is_412(client: Client, configs_dir: Path) -> None:
    await create(client, {"v": 1})
    before = stored(configs_dir)
    response = await client.patch(
        CONFIG, data=b'{"v": 2}', headers={**MERGE_PATCH, "If-Match": '"stale"'}
    )
    assert response.status_code == 412
    assert stored(configs_dir) == before


# Hostile bodies


@pytest.mark.parametrize(
    ("method", "data", "headers"),
    [
        ("put", b'{"content": {"a": 1, "a": 2}}', {"Content-Type": "application/json"}),
        ("put", b'{"content": {}, "content": {}}', {"Content-Type": "application/json"}),
        ("patch", b'{"a": {"b": 1, "b": 2}}', MERGE_PATCH),
    ],
)
async def test_duplicate_keys_are_refused(
    client: Client, configs_dir: Path, method: str, data: bytes, headers: dict[str, str]
) -> None:
    await create(client, {"v": 1})
    before = stored(configs_dir)
    response = await getattr(client, method)(CONFIG, data=data, headers=headers)
    assert response.status_code == 400
    body = await response.get_json()
    assert body["code"] == "VALIDATION_FAILED"
    assert "appears twice" in body["error"]
    assert stored(configs_dir) == before


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": NaN}',
        b'{"a": "\\udc00"}',
        b'{"a": "\xc3\x28"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["nan", "lone-surrogate", "invalid-utf8", "deep"],
)
async def test_hostile_patch_bodies_are_400(client: Client, configs_dir: Path, data: bytes) -> None:
    await create(client, {"v": 1})
    before = stored(configs_dir)
    response = await client.patch(CONFIG, data=data, headers=MERGE_PATCH)
    assert response.status_code == 400
    assert stored(configs_dir) == before
