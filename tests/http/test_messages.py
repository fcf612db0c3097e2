"""What the admin UI shows people as-is (`error`): every problem named, in words one can act on,
and nothing stored changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from tests.conftest import MAC
from tests.http.test_configs_api import assert_error, put

JSON = {"Content-Type": "application/json"}
PATH = f"/api/configs/{MAC}"


async def refused(client: Client, body: bytes, status: int = 400, **headers: str) -> Any:
    response = await client.put(PATH, data=body, headers={**JSON, **headers})
    assert response.status_code == status
    answer = await response.get_json()
    return answer


@pytest.fixture
async def stored(client: Client, configs_dir: Path) -> bytes:
    assert (await put(client, MAC, {"v": 1})).status_code == 200
    return (configs_dir / f"{MAC}.json").read_bytes()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "The request body is empty; send a JSON object."),
        (b"  \n", "The request body is empty; send a JSON object."),
        (
            b'{"content": {"a": "\\ud800"}}',
            "The request body holds a lone surrogate escape (like \\ud800): half of a UTF-16 "
            "pair, which is not a character and cannot be stored as UTF-8.",
        ),
        (
            b'{"content": {"a": NaN}}',
            "The request body holds NaN, which is not a JSON number (JSON has no NaN or "
            "Infinity); send a number or null.",
        ),
        (
            b'{"content": {"a": -Infinity}}',
            "The request body holds -Infinity, which is not a JSON number (JSON has no NaN or "
            "Infinity); send a number or null.",
        ),
        (
            b'{"content": {"a": 1,}}',
            "The request body is not valid JSON: expecting property name enclosed in double "
            "quotes at line 1, column 21.",
        ),
        (
            b'{"content":\n {"a" 1}}',
            "The request body is not valid JSON: expecting ':' delimiter at line 2, column 7.",
        ),
        (
            b'{"content": {"a": 1e400}}',
            "The request body holds a number too large to store (beyond 1.8e308).",
        ),
        (
            b'{"content": {"a": "\\xff"}}'.replace(b"\\xff", b"\xff"),
            "The request body is not valid UTF-8.",
        ),
        (b"[1, 2]", "The request body must be a JSON object, not an array."),
        (b'{"content": []}', "Field 'content' must be a JSON object, not an array."),
        (
            b'{"content": {}, "allow_overwrite": "no"}',
            "Field 'allow_overwrite' must be true or false, not a string.",
        ),
        (b'{"allow_overwrite": false}', "Field 'content' is required."),
        (
            b'{"content": {}, "zzz": 1}',
            "Unknown field 'zzz': the body may hold only allow_overwrite and content.",
        ),
    ],
)
async def test_a_bad_body_says_what_is_wrong_and_changes_nothing(
    client: Client, configs_dir: Path, stored: bytes, body: bytes, error: str
) -> None:
    answer = await refused(client, body)
    assert_error(answer, "VALIDATION_FAILED")
    assert answer["error"] == error
    assert [item["message"] for item in answer["details"]["errors"]] == [error]
    assert (configs_dir / f"{MAC}.json").read_bytes() == stored


async def test_every_problem_of_a_body_is_listed(client: Client, stored: bytes) -> None:
    answer = await refused(client, b'{"content": 5, "allow_overwrite": "x", "zzz": 1}')
    assert answer["details"]["errors"] == [
        {
            "field": "zzz",
            "message": "Unknown field 'zzz': the body may hold only allow_overwrite and content.",
        },
        {"field": "content", "message": "Field 'content' must be a JSON object, not a number."},
        {
            "field": "allow_overwrite",
            "message": "Field 'allow_overwrite' must be true or false, not a string.",
        },
    ]
    assert answer["error"] == "The request body has 3 problems: " + " ".join(
        item["message"] for item in answer["details"]["errors"]
    )


async def test_thousands_of_unknown_fields_get_a_bounded_answer(
    client: Client, stored: bytes
) -> None:
    body = {"content": {}, **{f"k{i}": i for i in range(5000)}}
    answer = await refused(client, json.dumps(body).encode())
    errors = answer["details"]["errors"]
    assert len(errors) == 21
    assert errors[-1] == {"field": "body", "message": "And 4980 more problems."}
    assert len(answer["error"]) < 3000


# 412: which part of the condition failed, and what to do next


async def test_a_stale_etag_says_the_config_changed(client: Client, stored: bytes) -> None:
    answer = await refused(client, b'{"content": {}}', 412, **{"If-Match": '"0123"'})
    assert_error(answer, "PRECONDITION_FAILED")
    assert answer["error"] == (
        f"The condition on the config for device {MAC} does not hold: the stored config has "
        "changed since that ETag was read; nothing was written. Fetch it again and retry "
        "with its current ETag."
    )


async def test_a_weak_etag_says_writes_compare_strongly(client: Client, stored: bytes) -> None:
    etag = (await client.get(PATH)).headers["ETag"]
    answer = await refused(client, b'{"content": {}}', 412, **{"If-Match": f"W/{etag}"})
    assert "only weak entity tags (W/...)" in answer["error"]
    assert answer["error"].endswith("Send the ETag exactly as a GET of this config returned it.")


@pytest.mark.parametrize("value", ["abc", '"abc', '"a", b', "**"])
async def test_a_malformed_if_match_is_named(client: Client, stored: bytes, value: str) -> None:
    answer = await refused(client, b'{"content": {}}', 412, **{"If-Match": value})
    assert (
        'the If-Match header is not a list of entity tags in double quotes (like "abc") or *'
        in answer["error"]
    )


async def test_a_malformed_if_none_match_forbids_nothing(client: Client, stored: bytes) -> None:
    response = await client.put(
        PATH, data=b'{"content": {"v": 2}}', headers={**JSON, "If-None-Match": "abc"}
    )
    assert response.status_code == 200


async def test_if_match_star_on_a_missing_config_says_none_is_stored(client: Client) -> None:
    answer = await refused(client, b'{"content": {}}', 412, **{"If-Match": "*"})
    assert "no config is stored, and If-Match: * asks for an existing one" in answer["error"]
    assert answer["error"].endswith("Save it without If-Match to create it.")


async def test_if_none_match_star_on_an_existing_config_says_create_only(
    client: Client, stored: bytes
) -> None:
    answer = await refused(client, b'{"content": {}}', 412, **{"If-None-Match": "*"})
    assert "a config is already stored, and If-None-Match: * (create only)" in answer["error"]
    assert answer["error"].endswith(
        "To replace it, send If-Match with its current ETag, or neither header."
    )
