"""The docs page renders every documented operation in a real browser, with no network."""

from __future__ import annotations

import json
import urllib.request

from playwright.sync_api import Browser, Route

from tests.browser.test_spa_cors import Api, api, browser, pytestmark

__all__ = ["api", "browser", "pytestmark"]  # the module's fixtures and skip rule, shared

METHODS = {"get", "post", "put", "patch", "delete"}


def test_swagger_ui_renders_every_operation_offline(browser: Browser, api: Api):
    with urllib.request.urlopen(f"{api.base}/api/v1/openapi.json", timeout=10) as response:  # noqa: S310 (our own server)
        spec = json.load(response)
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }
    outside: list[str] = []

    def only_the_api(route: Route) -> None:
        """Refuse every request that does not go to the API's own origin."""
        if route.request.url.startswith(api.base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context = browser.new_context()
    try:
        page = context.new_page()
        page.route("**/*", only_the_api)
        page.goto(f"{api.base}/api/v1/docs", wait_until="networkidle")
        page.wait_for_selector(".opblock", timeout=20_000)
        blocks = page.locator(".opblock")
        rendered = {
            (
                blocks.nth(index).locator(".opblock-summary-method").inner_text().strip(),
                blocks.nth(index).locator(".opblock-summary-path").get_attribute("data-path"),
            )
            for index in range(blocks.count())
        }
    finally:
        context.close()
    assert outside == []
    assert rendered == operations
