"""Every route of API.md part 1 through Quart's test client, on a real temp directory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from tests.conftest import MAC, OTHER_MAC
from tests.files import entries

CONFIG_FILE = f"{MAC}.json"


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error", "code", "details", "correlationId"}
    assert body["code"] == code
    assert isinstance(body["error"], str)
    assert body["error"]
    assert body["correlationId"]


async def put(client: Client, mac: str, content: Any, **extra: Any) -> Any:
    return await client.put(f"/api/configs/{mac}", json={"content": content, **extra})


# PUT


async def test_put_creates_config_and_answers_like_get(client: Client, configs_dir: Path) -> None:
    content = {"deviceName": "Kitchen", "deviceEntityId": "sensor.kitchen", "enableOTA": True}
    response = await put(client, MAC, content)
    assert response.status_code == 200
    body = await response.get_json()
    assert body == {
        "mac_address": MAC,
        "device_name": "Kitchen",
        "device_entity_id": "sensor.kitchen",
        "enable_ota": True,
        "content": content,
    }
    assert list(body) == ["mac_address", "device_name", "device_entity_id", "enable_ota", "content"]
    assert body == await (await client.get(f"/api/configs/{MAC}")).get_json()
    assert json.loads((configs_dir / CONFIG_FILE).read_text()) == content


async def test_put_stores_content_as_given_pretty_printed(
    client: Client, configs_dir: Path
) -> None:
    await client.put(
        f"/api/configs/{MAC}",
        data=b'{"content": {"zeta": 1, "alpha": {"b": [1, 2], "a": "\\u00e9"}}}',
        headers={"Content-Type": "application/json"},
    )
    stored = (configs_dir / CONFIG_FILE).read_text(encoding="utf-8")
    assert stored == (
        '{\n  "zeta": 1,\n  "alpha": {\n    "b": [\n      1,\n      2\n    ],\n'
        '    "a": "é"\n  }\n}\n'
    )


async def test_put_accepts_upper_case_and_colons_and_answers_canonical(
    client: Client, configs_dir: Path
) -> None:
    response = await put(client, "AA:BB:CC:DD:EE:FF", {"v": 1})
    assert (await response.get_json())["mac_address"] == MAC
    assert (configs_dir / CONFIG_FILE).exists()


async def test_put_replaces_by_default(client: Client, configs_dir: Path) -> None:
    await put(client, MAC, {"v": 1})
    response = await put(client, MAC, {"v": 2})
    assert response.status_code == 200
    assert json.loads((configs_dir / CONFIG_FILE).read_text()) == {"v": 2}


async def test_put_without_overwrite_on_existing_is_409_and_file_untouched(
    client: Client, configs_dir: Path
) -> None:
    await put(client, MAC, {"v": 1})
    before = (configs_dir / CONFIG_FILE).read_bytes()
    response = await put(client, MAC, {"v": 2}, allow_overwrite=False)
    assert response.status_code == 409
    assert_error(await response.get_json(), "RECORD_EXISTS")
    assert (configs_dir / CONFIG_FILE).read_bytes() == before


async def test_put_without_overwrite_creates_a_new_config(client: Client) -> None:
    response = await put(client, MAC, {"v": 1}, allow_overwrite=False)
    assert response.status_code == 200


INVALID_BODIES = [
    pytest.param(b"{not json", "body", id="invalid-json"),
    pytest.param(b"", "body", id="empty"),
    pytest.param(b"[]", "body", id="array-body"),
    pytest.param(b'{"allow_overwrite": true}', "content", id="content-missing"),
    pytest.param(b'{"content": [1, 2]}', "content", id="content-array"),
    pytest.param(b'{"content": "text"}', "content", id="content-string"),
    pytest.param(b'{"content": null}', "content", id="content-null"),
    pytest.param(b'{"content": {"a": NaN}}', "body", id="nan"),
    pytest.param(b'{"content": {"a": Infinity}}', "body", id="infinity"),
    pytest.param(b'{"content": {"a": -Infinity}}', "body", id="minus-infinity"),
    pytest.param(b'{"content": {"a": 1e400}}', "body", id="number-out-of-range"),
    pytest.param(b'{"content": {}, "allow_overwrite": "false"}', "allow_overwrite", id="str-bool"),
    pytest.param(b'{"content": {}, "allow_overwrite": 0}', "allow_overwrite", id="int-bool"),
    pytest.param(b'{"content": {}, "allow_overwrite": null}', "allow_overwrite", id="null-bool"),
    pytest.param(b'{"content": {}, "allow_overwite": false}', "allow_overwite", id="unknown-field"),
    pytest.param(b'{"content": {"a": "\xff"}}', "body", id="not-utf8"),
    pytest.param(b'{"content": {"a": "\\ud800"}}', "body", id="lone-surrogate"),
    pytest.param(b'{"content": ' + b"[" * 5000 + b"]" * 5000 + b"}", "body", id="deep"),
]


@pytest.mark.parametrize(("data", "field"), INVALID_BODIES)
async def test_put_invalid_body_is_400_and_writes_nothing(
    client: Client, configs_dir: Path, data: bytes, field: str
) -> None:
    await put(client, MAC, {"original": True})
    before = (configs_dir / CONFIG_FILE).read_bytes()

    response = await client.put(
        f"/api/configs/{MAC}", data=data, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    body = await response.get_json()
    assert_error(body, "VALIDATION_FAILED")
    assert [error["field"] for error in body["details"]["errors"]] == [field]
    assert all(error["message"] for error in body["details"]["errors"])
    assert (configs_dir / CONFIG_FILE).read_bytes() == before
    assert entries(configs_dir) == [CONFIG_FILE]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_a_body_without_content_type_is_415_for_put_and_patch_alike(
    client: Client, configs_dir: Path, method: str
) -> None:
    await put(client, MAC, {"v": 1})
    before = (configs_dir / f"{MAC}.json").read_bytes()
    body = b'{"content": {"v": 2}}' if method == "PUT" else b'{"v": 2}'
    # quart.typing declares `json` without its default; the client itself has one.
    response = await client.open(f"/api/configs/{MAC}", method=method, data=body)  # type: ignore[call-arg]
    assert response.status_code == 415
    answer = await response.get_json()
    assert_error(answer, "UNSUPPORTED_MEDIA_TYPE")
    assert answer["error"].endswith("and this request has no Content-Type.")
    assert "application/json" in answer["error"]
    assert (configs_dir / f"{MAC}.json").read_bytes() == before


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("charset", ["iso-8859-1", "utf-16", "latin1"])
async def test_a_body_labelled_with_another_charset_is_415(
    client: Client, configs_dir: Path, method: str, charset: str
) -> None:
    await put(client, MAC, {"v": 1})
    body = '{"content": {"v": "é"}}' if method == "PUT" else '{"v": "é"}'
    response = await client.open(  # type: ignore[call-arg]
        f"/api/configs/{MAC}",
        method=method,
        data=body.encode("latin-1"),
        headers={"Content-Type": f"application/json; charset={charset}"},
    )
    assert response.status_code == 415
    answer = await response.get_json()
    assert answer["error"] == (
        f"The request body must be UTF-8 (charset=utf-8, or no charset), not {charset}."
    )
    assert json.loads((configs_dir / f"{MAC}.json").read_bytes()) == {"v": 1}


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=UTF-8", "application/json;charset=utf8"]
)
async def test_a_body_labelled_utf8_is_read(client: Client, content_type: str) -> None:
    response = await client.put(
        f"/api/configs/{MAC}",
        data='{"content": {"v": "é"}}'.encode(),
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200
    assert (await response.get_json())["content"] == {"v": "é"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_put_with_a_non_json_content_type_is_415(
    client: Client, configs_dir: Path, content_type: str
) -> None:
    response = await client.put(
        f"/api/configs/{MAC}",
        data=b'{"content": {}}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 415
    assert_error(await response.get_json(), "UNSUPPORTED_MEDIA_TYPE")
    assert entries(configs_dir) == []


async def test_put_with_a_json_suffix_media_type_is_accepted(client: Client) -> None:
    response = await client.put(
        f"/api/configs/{MAC}",
        data=b'{"content": {}}',
        headers={"Content-Type": "application/vnd.iot+json; charset=utf-8"},
    )
    assert response.status_code == 200


async def test_put_bad_mac_is_400_even_with_a_valid_body(client: Client, configs_dir: Path) -> None:
    response = await put(client, "not-a-mac", {"v": 1})
    assert response.status_code == 400
    assert_error(await response.get_json(), "INVALID_OPERATION")
    assert entries(configs_dir) == []


# GET one


async def test_get_returns_summary_and_whole_content(client: Client) -> None:
    content = {"deviceName": 42, "enableOTA": False, "wifi": {"ssid": "iot"}}
    await put(client, MAC, content)
    response = await client.get(f"/api/configs/{MAC.upper()}")
    assert response.status_code == 200
    assert await response.get_json() == {
        "mac_address": MAC,
        "device_name": None,
        "device_entity_id": None,
        "enable_ota": False,
        "content": content,
    }


async def test_get_unknown_device_returns_404(client: Client) -> None:
    response = await client.get(f"/api/configs/{MAC}")
    assert response.status_code == 404
    body = await response.get_json()
    assert_error(body, "RECORD_NOT_FOUND")
    assert MAC in body["error"]


BAD_MACS = [
    "zz-bb-cc-dd-ee-ff",
    "aa-bb-cc-dd-ee",
    "aabbccddeeff",
    "aa-bb:cc-dd-ee-ff",
    "..",
    "a/b",
    "..%2F..%2Fetc%2Fpasswd",
    "aa-bb-cc-dd-ee-ff%20",
    "aa-bb-cc-dd-ee-ff%00",
    "aa-bb-cc-dd-ee-ff/",
]


@pytest.mark.parametrize("mac", BAD_MACS)
@pytest.mark.parametrize("method", ["get", "delete"])
async def test_bad_mac_is_400_invalid_operation(client: Client, mac: str, method: str) -> None:
    response = await getattr(client, method)(f"/api/configs/{mac}")
    assert response.status_code == 400
    assert_error(await response.get_json(), "INVALID_OPERATION")


@pytest.mark.parametrize("mac", BAD_MACS)
async def test_bad_mac_on_device_route_is_400(client: Client, mac: str) -> None:
    response = await client.get(f"/api/configs/{mac}.json")
    assert response.status_code == 400
    assert_error(await response.get_json(), "INVALID_OPERATION")


async def test_get_corrupt_config_is_500_config_corrupt_with_a_useful_message(
    client: Client, configs_dir: Path
) -> None:
    (configs_dir / CONFIG_FILE).write_text("[1, 2]")
    for path in (f"/api/configs/{MAC}", f"/api/configs/{MAC}.json"):
        response = await client.get(path)
        assert response.status_code == 500
        body = await response.get_json()
        assert_error(body, "CONFIG_CORRUPT")
        assert "JSON array" in body["error"]
        assert str(configs_dir) not in body["error"]


# Invalid UTF-8 is told apart from a JSON syntax error whichever way msgspec reports it
# (UnicodeDecodeError before 0.23, DecodeError since).


@pytest.mark.parametrize(
    ("method", "content_type"),
    [("PUT", "application/json"), ("PATCH", "application/merge-patch+json")],
)
async def test_a_body_with_invalid_utf8_says_so(
    client: Client, configs_dir: Path, method: str, content_type: str
) -> None:
    await put(client, MAC, {"original": True})
    before = (configs_dir / CONFIG_FILE).read_bytes()
    body = b'{"content": {"a": "\xc3\x28"}}' if method == "PUT" else b'{"a": "\xff"}'

    send = client.put if method == "PUT" else client.patch
    response = await send(f"/api/configs/{MAC}", data=body, headers={"Content-Type": content_type})

    assert response.status_code == 400
    error = await response.get_json()
    assert_error(error, "VALIDATION_FAILED")
    assert error["details"]["errors"] == [
        {"field": "body", "message": "The request body is not valid UTF-8."}
    ]
    assert (configs_dir / CONFIG_FILE).read_bytes() == before


async def test_a_body_with_a_syntax_error_is_not_called_invalid_utf8(client: Client) -> None:
    response = await client.put(
        f"/api/configs/{MAC}",
        data=b'{"content": {"a": "\xc3\xa9"',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    message = (await response.get_json())["details"]["errors"][0]["message"]
    assert message.startswith("The request body is not valid JSON")


async def test_a_stored_file_with_invalid_utf8_is_reported_as_such(
    client: Client, configs_dir: Path
) -> None:
    (configs_dir / CONFIG_FILE).write_bytes(b'{"deviceName": "caf\xe9"}')
    for path in (f"/api/configs/{MAC}", f"/api/configs/{MAC}.json"):
        response = await client.get(path)
        assert response.status_code == 500
        body = await response.get_json()
        assert_error(body, "CONFIG_CORRUPT")
        assert "not valid UTF-8" in body["error"]


# GET raw


async def test_device_route_serves_the_stored_bytes(client: Client, configs_dir: Path) -> None:
    await put(client, MAC, {"b": 1, "a": [True, None]})
    response = await client.get(f"/api/configs/{MAC}.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-cache"
    assert await response.get_data() == (configs_dir / CONFIG_FILE).read_bytes()


async def test_device_route_serves_files_written_by_other_tools_unchanged(
    client: Client, configs_dir: Path
) -> None:
    (configs_dir / CONFIG_FILE).write_bytes(b'{"compact":true,"n":1.50}')
    response = await client.get("/api/configs/AA:BB:CC:DD:EE:FF.json")
    assert await response.get_data() == b'{"compact":true,"n":1.50}'


async def test_device_route_unknown_device_is_404(client: Client) -> None:
    response = await client.get(f"/api/configs/{MAC}.json")
    assert response.status_code == 404
    assert_error(await response.get_json(), "RECORD_NOT_FOUND")


# LIST


async def test_list_is_sorted_with_count_and_summaries(client: Client) -> None:
    await put(client, MAC, {"deviceName": "b"})
    await put(client, OTHER_MAC, {"deviceName": "a", "enableOTA": "yes"})
    response = await client.get("/api/configs")
    assert response.status_code == 200
    assert await response.get_json() == {
        "configs": [
            {
                "mac_address": OTHER_MAC,
                "device_name": "a",
                "device_entity_id": None,
                "enable_ota": None,
            },
            {"mac_address": MAC, "device_name": "b", "device_entity_id": None, "enable_ota": None},
        ],
        "count": 2,
        "skipped": [],
    }


async def test_list_of_empty_directory_is_empty(client: Client) -> None:
    response = await client.get("/api/configs")
    assert await response.get_json() == {"configs": [], "count": 0, "skipped": []}


async def test_list_skips_bad_files_and_counts_them_in_a_metric(
    client: Client, configs_dir: Path
) -> None:
    await put(client, MAC, {"deviceName": "good"})
    (configs_dir / f"{OTHER_MAC}.json").write_text("{broken")
    (configs_dir / "README.txt").write_text("hello")

    response = await client.get("/api/configs")

    assert response.status_code == 200
    body = await response.get_json()
    assert [c["mac_address"] for c in body["configs"]] == [MAC]
    assert body["count"] == 1
    assert [(item["name"], item["problem"]) for item in body["skipped"]] == [
        (f"{OTHER_MAC}.json", "invalid_json"),
        ("README.txt", "bad_name"),
    ]
    assert body["skipped"][0]["reason"].startswith("the file is not valid JSON")
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    # The count is the list's count, not the number of files named like a config.
    assert "iot_config_files_count 1.0" in metrics
    assert 'iot_config_files_skipped{reason="invalid_json"} 1.0' in metrics
    assert 'iot_config_files_skipped{reason="bad_name"} 1.0' in metrics
    # State, not events: scraping again does not add to it, and a fixed file goes to 0.
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert 'iot_config_files_skipped{reason="invalid_json"} 1.0' in metrics
    (configs_dir / f"{OTHER_MAC}.json").write_text("{}")
    assert (await client.get("/api/configs")).status_code == 200
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert 'iot_config_files_skipped{reason="invalid_json"} 0.0' in metrics
    assert 'iot_config_files_skipped{reason="bad_name"} 1.0' in metrics
    assert "iot_config_files_count 2.0" in metrics


async def test_a_file_name_that_is_not_utf8_is_listed_escaped(
    client: Client, configs_dir: Path
) -> None:
    (configs_dir / os.fsdecode(b"caf\xe9.json")).write_bytes(b"{}")
    body = await (await client.get("/api/configs")).get_json()
    assert [(item["name"], item["problem"]) for item in body["skipped"]] == [
        ("caf\\xe9.json", "bad_name")
    ]


# DELETE


async def test_delete_removes_the_file_and_answers_204_without_body(
    client: Client, configs_dir: Path
) -> None:
    await put(client, MAC, {})
    response = await client.delete("/api/configs/AA:BB:CC:DD:EE:FF")
    assert response.status_code == 204
    assert await response.get_data() == b""
    assert entries(configs_dir) == []
    assert (await client.get(f"/api/configs/{MAC}")).status_code == 404
    assert (await client.get(f"/api/configs/{MAC}.json")).status_code == 404
    assert (await client.head(f"/api/configs/{MAC}.json")).status_code == 404


async def test_delete_unknown_device_is_404(client: Client) -> None:
    response = await client.delete(f"/api/configs/{MAC}")
    assert response.status_code == 404
    assert_error(await response.get_json(), "RECORD_NOT_FOUND")


@pytest.mark.parametrize("bad", [b"", b"{broken", b"[1]", b'"text"', b'{"a": "\xff"}'], ids=repr)
async def test_put_repairs_a_corrupt_config(client: Client, configs_dir: Path, bad: bytes) -> None:
    (configs_dir / CONFIG_FILE).write_bytes(bad)
    assert (await client.get(f"/api/configs/{MAC}")).status_code == 500
    assert (await put(client, MAC, {"repaired": True})).status_code == 200
    response = await client.get(f"/api/configs/{MAC}")
    assert response.status_code == 200
    assert (await response.get_json())["content"] == {"repaired": True}
