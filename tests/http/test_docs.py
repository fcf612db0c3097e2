"""The docs page and its assets are served by the service itself: no CDN, no internet."""

from __future__ import annotations

import re

import pytest
from quart.typing import TestClientProtocol as Client

from entrypoints.docs.swagger import ASSETS, swagger_ui_version


async def test_docs_page_loads_only_this_services_files(client: Client) -> None:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = await response.get_data(as_text=True)
    assert "SwaggerUIBundle" in page
    assert "/api/openapi.json" in page
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert referenced
    assert all(url.startswith("/api/docs/assets/") for url in referenced), referenced
    assert "://" not in page


@pytest.mark.parametrize("name", sorted(ASSETS))
async def test_docs_assets_are_served_with_their_types(client: Client, name: str) -> None:
    response = await client.get(f"/api/docs/assets/{name}?v={swagger_ui_version()}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ASSETS[name]
    assert len(await response.get_data()) > 100


def test_swagger_ui_is_version_5_which_reads_openapi_3_1() -> None:
    assert swagger_ui_version().startswith("v5.")


@pytest.mark.parametrize("name", ["index.html", "../__init__.py", "LICENSE", "oauth2-redirect.js"])
async def test_other_files_are_not_served(client: Client, name: str) -> None:
    response = await client.get(f"/api/docs/assets/{name}")
    assert response.status_code == 404
    assert (await response.get_json())["code"] == "NOT_FOUND"


@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs/swagger", "/api/docs/swagger/"])
async def test_old_and_slashed_docs_urls_lead_to_the_docs(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/api/docs")
