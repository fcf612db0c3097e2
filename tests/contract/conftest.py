"""Fixtures for the contract tests."""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client


@pytest.fixture
async def document(client: Client) -> dict[str, Any]:
    """Our OpenAPI document, from where the admin UI's build fetches it."""
    response = await client.get("/api/docs/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body
