"""Our OpenAPI document against the previous service's (`previous_service_openapi.json`, a copy
of `../shared/original-openapi.json`): the admin UI's client was generated from that one, so for
every operation of our contract ours keeps its operationId, parameters, request media types and
component names, and every schema accepts at least what the previous one accepted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PREVIOUS = json.loads(Path(__file__).with_name("previous_service_openapi.json").read_text())
SHARED_COPY = Path(__file__).parents[3] / "shared" / "original-openapi.json"

# The previous service's asset and image routes are not part of this contract (API.md).
NOT_OURS = ("/api/assets", "/api/images")
OPERATIONS = [
    (path, method)
    for path, operations in PREVIOUS["paths"].items()
    if not path.startswith(NOT_OURS)
    for method in operations
]
COMPONENTS = [
    name
    for name in PREVIOUS["components"]["schemas"]
    if not name.startswith(("AssetUploadResponseSchema", "LvglImageQuerySchema"))
]
# Deliberately stricter than the previous service: unknown fields in a save are refused, so a
# misspelt `allow_overwrite` cannot silently overwrite (README, "Request bodies are strict").
CLOSED_ON_PURPOSE = {"ConfigSaveRequestSchema.6be28b6"}


class Incompatible(AssertionError):
    pass


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    if "anyOf" in schema:
        return list(schema["anyOf"])
    if isinstance(schema.get("type"), list):
        return [{**schema, "type": kind} for kind in schema["type"]]
    return [schema]


def check_accepts(
    ours: dict[str, Any], theirs: dict[str, Any], document: dict[str, Any], where: str
) -> None:
    """Raise `Incompatible` unless every value `theirs` accepts, `ours` accepts too (for the
    constructs these documents use: refs, anyOf, type, properties, required, items,
    additionalProperties)."""
    if "$ref" in theirs:
        name = theirs["$ref"].rsplit("/", 1)[1]
        return check_accepts(ours, PREVIOUS["components"]["schemas"][name], document, where)
    ours = resolve(ours, document)
    for option in alternatives(theirs):
        problems = []
        for candidate in alternatives(ours):
            try:
                check_one(resolve(candidate, document), option, document, where)
                break
            except Incompatible as problem:
                problems.append(str(problem))
        else:
            raise Incompatible("; ".join(problems) or f"{where}: nothing accepts {option}")
    return None


def check_one(
    ours: dict[str, Any], theirs: dict[str, Any], document: dict[str, Any], where: str
) -> None:
    if "$ref" in theirs or "anyOf" in theirs:
        return check_accepts(ours, theirs, document, where)
    kind, our_kind = theirs.get("type"), ours.get("type")
    if our_kind is not None and kind != our_kind:
        raise Incompatible(f"{where}: type {our_kind!r}, was {kind!r}")
    if kind == "array":
        check_accepts(ours.get("items", {}), theirs.get("items", {}), document, f"{where}[]")
    if kind == "object":
        missing = set(ours.get("required", [])) - set(theirs.get("required", []))
        if missing:
            raise Incompatible(f"{where}: now requires {sorted(missing)}")
        for name, schema in theirs.get("properties", {}).items():
            if name not in ours.get("properties", {}):
                raise Incompatible(f"{where}: no property {name!r}")
            check_accepts(ours["properties"][name], schema, document, f"{where}.{name}")
        if (
            theirs.get("additionalProperties") is True
            and ours.get("additionalProperties") is not True
        ):
            raise Incompatible(f"{where}: additionalProperties is no longer true")
    return None


def test_the_reference_is_the_contract_in_shared() -> None:
    if SHARED_COPY.exists():
        assert json.loads(SHARED_COPY.read_text()) == PREVIOUS, (
            "../shared/original-openapi.json changed: copy it to "
            "tests/contract/previous_service_openapi.json and make this suite pass again"
        )


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
async def test_every_previous_operation_keeps_its_name_parameters_and_bodies(
    document: dict[str, Any], path: str, method: str
) -> None:
    theirs = PREVIOUS["paths"][path][method]
    ours = document["paths"][path][method]
    assert ours["operationId"] == theirs["operationId"]
    our_parameters = {(p["in"], p["name"]): p for p in ours["parameters"]}
    for parameter in theirs["parameters"]:
        mine = our_parameters[parameter["in"], parameter["name"]]
        assert mine["required"] == parameter["required"]
        check_accepts(mine["schema"], parameter["schema"], document, parameter["name"])
    if "requestBody" in theirs:
        our_bodies = ours["requestBody"]["content"]
        for media, body in theirs["requestBody"]["content"].items():
            assert media in our_bodies, f"{method} {path}: no request body under {media}"
            assert our_bodies[media]["schema"] == body["schema"], "the same component"
    for status, response in theirs["responses"].items():
        assert status in ours["responses"], f"{method} {path}: no {status} answer"
        for media, body in response.get("content", {}).items():
            mine = ours["responses"][status]["content"][media]["schema"]
            assert mine == body["schema"], f"{method} {path} {status}: the same component"


@pytest.mark.parametrize("name", COMPONENTS)
async def test_every_previous_component_accepts_what_it_accepted(
    document: dict[str, Any], name: str
) -> None:
    ours = document["components"]["schemas"][name]
    theirs = PREVIOUS["components"]["schemas"][name]
    if name in CLOSED_ON_PURPOSE:
        assert ours.get("additionalProperties") is False
        ours = {key: value for key, value in ours.items() if key != "additionalProperties"}
    check_accepts(ours, theirs, document, name)


def test_the_comparison_finds_a_narrowed_schema() -> None:
    """The checker itself: each kind of narrowing is caught."""
    previous = PREVIOUS["components"]["schemas"]["ConfigResponseSchema.6be28b6"]
    empty: dict[str, Any] = {"components": {"schemas": {}}}
    narrowed = [
        {**previous, "required": [*previous["required"], "device_name"]},
        {**previous, "properties": {**previous["properties"], "device_name": {"type": "string"}}},
        {**previous, "properties": {**previous["properties"], "content": {"type": "object"}}},
        {**previous, "type": "array"},
    ]
    for schema in narrowed:
        with pytest.raises(Incompatible):
            check_accepts(schema, previous, empty, "ConfigResponseSchema")
    check_accepts(previous, previous, empty, "ConfigResponseSchema")
