"""The signed-in header in headless Chromium at phone (360px) and desktop (1280px) widths: a
citizen and an admin visit their pages; on every page nothing scrolls sideways (menu open or
closed), no console error, every input has a label; the menu opens with the keyboard, shows the
admin console only to the admin, and signs out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.e2e.conftest import LiveServer
from tests.factories import PASSWORD, create_agency, create_user, enrol_totp
from tests.oidc.flow import totp_code

WIDTHS = (360, 1280)
CITIZEN_PAGES = (
    "/account",
    "/account/password",
    "/account/security",
    "/account/sessions",
    "/account/apps",
    "/account/data",
    "/developers",
    "/developers/apps/new",
    "/",
)
ADMIN_PAGES = (
    "/admin",
    "/admin/users",
    "/admin/agencies",
    "/admin/roles",
    "/admin/clients",
    "/admin/sessions",
    "/admin/keys",
    "/admin/audit",
    "/account",
    "/account/security",
    "/developers",
)
# Inputs a person can reach without a label of their own.
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => !['hidden', 'submit', 'button', 'reset'].includes(el.type) && !el.hidden)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 120))"""
FITS = "document.scrollingElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def people(live_server: LiveServer) -> dict[str, str]:
    rt: Runtime = live_server.runtime
    with rt.sessions() as db:
        create_agency(db, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
        create_user(rt, db, username="siti", display_name="Siti Aminah Putri Lestari")
        admin = create_user(
            rt,
            db,
            username="adminkota",
            kind="staff",
            agency_code="DISKOMINFO",
            display_name="Admin Kota",
        )
        role_repo.assign_to_user(db, role_repo.get_or_create_global(db, "admin"), admin.id)
        db.commit()
        return {"adminkota": enrol_totp(rt, db, admin)}


class Watched:
    """A page with its console errors collected."""

    def __init__(self, browser: Any, width: int) -> None:
        self.context = browser.new_context(locale="id-ID", viewport={"width": width, "height": 800})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: self.errors.append(f"{m.text} {m.location}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def watched(request: pytest.FixtureRequest, browser: Any) -> Iterator[Watched]:
    w = Watched(browser, request.param)
    yield w
    w.context.close()


def log_in(
    page: Any, server: LiveServer, username: str, path: str, totp: str | None = None
) -> None:
    page.goto(server.url + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    if totp:
        page.wait_for_selector("#totp-form")
        page.fill("#code", totp_code(totp))
        page.click("#totp-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(server.url + path) + "$"))


def check_page(w: Watched, server: LiveServer, path: str, name: str, admin: bool) -> None:
    page = w.page
    response = page.goto(server.url + path)
    assert response is not None and response.status == 200, path
    assert page.evaluate(FITS), f"{path} scrolls sideways"
    assert page.evaluate(UNLABELLED) == [], path
    menu = page.locator("nav.user-menu")
    assert menu.count() == 1, path
    assert name in menu.locator("summary").inner_text()
    menu.locator("summary").click()
    links = menu.locator("a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    expected = ["/account", "/account/security"] + (["/admin"] if admin else []) + ["/developers"]
    assert hrefs == expected, path
    assert menu.locator("button[type=submit]").is_visible()
    assert page.evaluate(FITS), f"{path} scrolls sideways with the menu open"
    menu.locator("summary").click()  # closed again
    assert w.errors == [], (path, w.errors)


def sign_out_through_the_menu(w: Watched) -> None:
    page = w.page
    summary = page.locator("nav.user-menu summary")
    summary.focus()
    page.keyboard.press("Enter")  # keyboard: the menu opens...
    assert page.locator("nav.user-menu details").get_attribute("open") is not None
    page.keyboard.press("Escape")  # ... and closes (enhance.js)
    assert page.locator("nav.user-menu details").get_attribute("open") is None
    page.keyboard.press("Enter")
    page.locator("nav.user-menu button[type=submit]").click()
    page.wait_for_selector("#sign-in-again")
    assert "Anda telah keluar" in page.content()
    assert page.evaluate(FITS)


def test_a_citizen_at_each_width(
    live_server: LiveServer, watched: Watched, people: dict[str, str]
) -> None:
    log_in(watched.page, live_server, "siti", "/account")
    for path in CITIZEN_PAGES:
        check_page(watched, live_server, path, "Siti Aminah", admin=False)
    watched.page.goto(live_server.url + "/account")
    sign_out_through_the_menu(watched)
    # Signed out: "Masuk lagi" leads to the login form.
    watched.page.click("#sign-in-again")
    watched.page.wait_for_selector("input[name=password]")
    assert watched.errors == []


def test_an_admin_at_each_width(
    live_server: LiveServer, watched: Watched, people: dict[str, str]
) -> None:
    log_in(watched.page, live_server, "adminkota", "/admin", people["adminkota"])
    for path in ADMIN_PAGES:
        check_page(watched, live_server, path, "Admin Kota", admin=True)
    watched.page.goto(live_server.url + "/admin/users")
    sign_out_through_the_menu(watched)
    response = watched.page.goto(live_server.url + "/admin")
    assert response is not None
    watched.page.wait_for_selector("input[name=password]")  # the session has ended
    assert watched.errors == []
