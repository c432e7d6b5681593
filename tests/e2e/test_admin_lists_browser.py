"""Issue 13 (a13k) in Chromium: the agency tree (every branch opened, and a search), roles,
clients, a client's page and live sessions at phone and desktop widths: no sideways scrolling,
no console error, every input labelled; the copy button copies the client_id and says so."""

from __future__ import annotations

from typing import Any

import pytest

from sso.web.console import CONSOLE_CLIENT_ID
from tests.e2e.conftest import LiveServer
from tests.e2e.test_admin_browser import log_in, people  # noqa: F401 (fixture)
from tests.e2e.test_header_browser import FITS, UNLABELLED

PAGES = (
    "/admin/agencies",
    "/admin/agencies?q=teknologi",
    "/admin/roles",
    "/admin/clients",
    "/admin/clients?q=tangsel",
    f"/admin/clients/{CONSOLE_CLIENT_ID}",
    "/admin/sessions",
)


def checked(page: Any, url: str) -> None:
    page.goto(url)
    # every branch of the tree open, so its forms count too
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert page.evaluate(FITS), (url, page.evaluate("document.scrollingElement.scrollWidth"))
    assert page.evaluate(UNLABELLED) == [], url


@pytest.mark.parametrize("width", [360, 1280])
def test_admin_lists_fit_and_copy(
    live_server: LiveServer,
    browser: Any,
    people: dict[str, Any],  # noqa: F811
    width: int,
    backend: str,
) -> None:
    ctx = browser.new_context(
        locale="id-ID",
        viewport={"width": width, "height": 800},
        is_mobile=width < 600,
        has_touch=width < 600,
    )
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on(
            "console",
            lambda m: (
                errors.append(f"{m.text} {m.location.get('url')}")
                if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
                else None
            ),
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        log_in(page, live_server, "adminkota", people["adminkota"], "/admin/agencies")
        # the tree: BIDANG-TI sits inside DISKOMINFO, closed until searched for
        assert (
            page.locator("li[data-code=DISKOMINFO] > details li[data-code=BIDANG-TI]").count() == 1
        )
        assert not page.locator("li[data-code=BIDANG-TI]").is_visible()
        page.fill("#q", "teknologi")
        page.click("#agency-search button[type=submit]")
        page.wait_for_url("**/admin/agencies?q=teknologi")
        assert page.locator("li[data-code=BIDANG-TI] mark").is_visible()
        assert page.locator("li[data-code=DINKES]").count() == 0
        for path in PAGES:
            checked(page, live_server.url + path)
        # this session is marked, the device is in words
        page.goto(live_server.url + "/admin/sessions")
        own = page.locator("tr.session-row--own")
        assert own.count() == 1 and "sesi ini" in own.inner_text()
        assert "Chrome" in own.locator(".session-device").inner_text()
        assert "WIB" in own.inner_text()
        # the copy button copies the client_id and says so to a screen reader
        page.goto(live_server.url + f"/admin/clients/{CONSOLE_CLIENT_ID}")
        assert page.locator("#disable-client").count() == 0
        page.click("button[data-copy=client-id]")
        page.wait_for_function(
            "document.getElementById('client-id-status').textContent === 'Tersalin'"
        )
        assert page.evaluate("navigator.clipboard.readText()") == CONSOLE_CLIENT_ID
        assert errors == []
    finally:
        ctx.close()
