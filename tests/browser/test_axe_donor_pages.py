"""axe-core on every donor page, in English and in Spanish, on a phone: home, drive, chapter,
member's page, join page, test checkout, thank-you, my gifts, ledger and embed must have no
violations. axe-core comes from the `axe-playwright-python` package (a test dependency that
ships axe.min.js; nothing is fetched while the tests run), or from $RELIEF_AXE_JS."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import pytest

from tests.browser.test_issue17_walk import PHONE, seed

pytestmark = pytest.mark.browser

AXE = Path(os.environ.get("RELIEF_AXE_JS") or str(files("axe_playwright_python") / "axe.min.js"))


def violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("axe.run(document).then(result => result.violations)")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in found
    ]


@pytest.mark.parametrize("language", ["en", "es"])
def test_axe_finds_nothing_on_any_donor_page(live_app, live_server, browser, language):
    seed(live_app)
    base = live_server.url
    context = browser.new_context(
        viewport=PHONE,
        locale=language,
        extra_http_headers={"Accept-Language": language},
        bypass_csp=True,  # lets axe be injected; the pages themselves run under their CSP
    )
    page = context.new_page()
    found: dict[str, list[str]] = {}

    def check(name: str, url: str | None = None) -> None:
        if url:
            page.goto(base + url)
        assert page.locator("html").get_attribute("lang") == language, name
        found[name] = violations(page)

    for name, url in (
        ("home", "/"),
        ("chapter", "/drives/mo-2026/st-louis"),
        ("member page", "/drives/mo-2026/p/ana-b"),
        ("join page", "/drives/mo-2026/p/join"),
        ("my gifts", "/my-gifts"),
        ("ledger", "/drives/mo-2026/ledger"),
        ("embed", "/drives/mo-2026/embed"),
        ("drive", "/drives/mo-2026"),
    ):
        check(name, url)

    page.fill("#email", "dana@example.org")  # $25 is chosen already
    page.locator("#email").locator("xpath=ancestor::form").locator(
        "button[type=submit]"
    ).last.click()
    page.wait_for_url("**/test-checkout/**")
    check("test checkout")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url("**/gifts/**")
    check("thank-you")
    context.close()

    assert {name: v for name, v in found.items() if v} == {}
