"""The docs page in a real headless Chromium with every non-loopback request blocked.

Needs Debian's `chromium` (`.ci/run` installs it). Run by hand without it, the test says how to
get it and skips; in CI (CI=true) it fails instead, so CI can never pass it silently.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.environment import unavailable
from tests.server_process import RunningServer

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = Path(__file__).resolve().parents[2] / "test-artifacts" / "api-docs.png"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        unavailable("Chromium is missing: `apt-get install chromium` (Debian), then run again.")


def operations(server: RunningServer) -> list[tuple[str, str]]:
    document = httpx.get(f"{server.base_url}/api/openapi.json").json()
    return [
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    ]


def test_docs_render_offline_and_try_it_out_works(server: RunningServer) -> None:
    require_chromium()
    from playwright.sync_api import Route, sync_playwright

    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2200})
            page.route("**/*", only_loopback)
            page.goto(f"{server.base_url}/api/docs")
            page.wait_for_selector(".opblock", timeout=20_000)

            shown = {
                (
                    block.locator(".opblock-summary-method").inner_text().strip(),
                    block.locator(".opblock-summary-path").get_attribute("data-path"),
                )
                for block in page.locator(".opblock").all()
            }
            assert set(operations(server)) <= shown

            listing = page.locator(".opblock-get").filter(
                has=page.locator('.opblock-summary-path[data-path="/api/configs"]')
            )
            listing.locator(".opblock-summary").click()
            listing.locator("button.try-out__btn").click()
            listing.locator("button.execute").click()
            status = listing.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for(timeout=20_000)
            assert status.inner_text().strip().startswith("200")

            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=False)
        finally:
            browser.close()

    assert blocked == [], f"the docs page tried to leave the host: {blocked}"
    assert SCREENSHOT.stat().st_size > 10_000


def test_the_docs_page_is_safe_to_click_and_speaks_words_not_markup(
    server: RunningServer,
) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2200})
            page.goto(f"{server.base_url}/api/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            summaries = page.locator(".opblock-summary-description").all_inner_texts()
            assert summaries
            assert not [text for text in summaries if "`" in text]

            save = page.locator(".opblock-put").first
            save.locator(".opblock-summary").click()
            save.locator("button.try-out__btn").click()
            mac = save.locator('input[placeholder="mac_address"]')
            assert mac.input_value() == "02-00-00-00-00-01"  # a MAC no fleet has
            body = save.locator("textarea.body-param__text").input_value()
            assert '"allow_overwrite": false' in body  # create only: cannot replace a config
            assert "pattern" not in save.inner_text()

            mac.fill("not-a-mac")
            save.locator("button.execute").click()
            page.wait_for_timeout(500)
            title = mac.get_attribute("title") or ""
            assert "not a MAC address: six pairs of hex digits" in title
            assert "pattern" not in title
            shown = save.inner_text()
            assert "For 'mac_address': not a MAC address: six pairs of hex digits" in shown
            assert "[0-9A-Fa-f]" not in shown
        finally:
            browser.close()
