"""Issue 13 in Chromium: an admin disables a person through the confirmation page, at phone
and desktop widths, with no sideways scrolling and no console error."""

from __future__ import annotations

from typing import Any

import pytest

from sso.db.models import User
from tests.e2e.conftest import LiveServer
from tests.e2e.test_admin_browser import STAFF_NIP, log_in, people  # noqa: F401 (fixture)


def no_overflow(page: Any) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, (page.url, overflow)


@pytest.mark.parametrize("width", [360, 1280])
def test_admin_disables_a_person_through_the_confirmation(
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
    errors: list[str] = []
    try:
        page = ctx.new_page()
        # The favicon is another part of issue 13 (the home page's); not this page's error.
        page.on(
            "console",
            lambda m: (
                errors.append(f"{m.text} {m.location.get('url')}")
                if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
                else None
            ),
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        user_page = f"/admin/users/{people['ti']}"
        log_in(page, live_server, "adminkota", people["adminkota"], user_page)
        no_overflow(page)
        page.click("[data-action=disable]")
        page.wait_for_selector("#confirm-form")
        assert page.url.endswith(f"{user_page}/disable/confirm")
        summary = page.locator("#confirm-summary").inner_text()
        assert "sesi login diakhiri" in summary and "Pegawai TI tidak bisa masuk" in summary
        no_overflow(page)
        with live_server.runtime.sessions() as db:  # nothing has happened yet
            assert db.get_one(User, people["ti"]).status == "active"
        page.click("#confirm-button")
        page.wait_for_url(f"**{user_page}?done=disabled")
        assert page.locator("#user-status").inner_text().strip() == "Nonaktif"
        assert page.locator(".alert--ok").is_visible()
        no_overflow(page)
        page.reload()  # the result page repeats nothing
        with live_server.runtime.sessions() as db:
            assert db.get_one(User, people["ti"]).status == "disabled"
        assert errors == []
    finally:
        ctx.close()
