"""The OpenAPI document's contract surface, compared with a checked-in snapshot.

The admin UI generates its client from this document, so any change to paths, methods,
operationIds, parameters, statuses, component names or the fields of the bodies must be a
deliberate, reviewed diff. After an
intended change: `UPDATE_OPENAPI_SNAPSHOT=1 .venv/bin/python -m pytest tests/contract`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from quart.typing import TestClientProtocol as Client

SNAPSHOT = Path(__file__).with_name("openapi_snapshot.json")


def fields(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A schema reduced to what a generated client depends on: component names, field names,
    types, required, and whether an object takes keys it does not list."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return {"component": name, "schema": fields(components[name], components)}
    if "anyOf" in schema:
        return [fields(option, components) for option in schema["anyOf"]]
    if schema.get("type") == "array":
        return {"array of": fields(schema.get("items", {}), components)}
    if schema.get("type") == "object" and schema.get("properties"):
        return {
            "properties": {
                name: fields(value, components) for name, value in schema["properties"].items()
            },
            "required": sorted(schema.get("required", [])),
            "additionalProperties": schema.get("additionalProperties"),
        }
    if schema.get("type") == "object":
        return {"object": {"additionalProperties": schema.get("additionalProperties")}}
    return schema.get("type", "any")


def surface(document: dict[str, Any]) -> dict[str, Any]:
    components = document["components"]["schemas"]
    result: dict[str, Any] = {}
    for path, operations in sorted(document["paths"].items()):
        for method, operation in sorted(operations.items()):
            body = operation.get("requestBody", {}).get("content", {})
            result[f"{method.upper()} {path}"] = {
                "operationId": operation["operationId"],
                "parameters": [(p["in"], p["name"]) for p in operation["parameters"]],
                "request": {
                    media: fields(content["schema"], components) for media, content in body.items()
                },
                "responses": {
                    status: {
                        media: fields(content["schema"], components)
                        for media, content in response.get("content", {}).items()
                    }
                    for status, response in sorted(operation["responses"].items())
                },
            }
    normalised: dict[str, Any] = json.loads(json.dumps(result))
    return normalised


async def test_openapi_contract_surface_matches_the_snapshot(client: Client) -> None:
    document = await (await client.get("/api/docs/openapi.json")).get_json()
    current = surface(document)
    if os.environ.get("UPDATE_OPENAPI_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


async def test_both_document_urls_serve_the_same_document(client: Client) -> None:
    first = await (await client.get("/api/openapi.json")).get_json()
    second = await (await client.get("/api/docs/openapi.json")).get_json()
    assert first == second
