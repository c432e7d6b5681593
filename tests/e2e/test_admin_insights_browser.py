"""The dashboard and the audit log in headless Chromium at a phone's width (360 px) and a
desktop's (1280 px): nothing scrolls sideways, no console error, every input has a label; the
category filter works without script; the chart is an SVG with axes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.e2e.conftest import LiveServer
from tests.e2e.test_admin_browser import log_in
from tests.factories import create_agency, create_client, create_user, enrol_totp

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)"""
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def admin_totp(live_server: LiveServer) -> str:
    rt: Runtime = live_server.runtime
    with rt.sessions() as db:
        create_agency(db, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
        user = create_user(
            rt,
            db,
            username="adminkota",
            kind="staff",
            agency_code="DISKOMINFO",
            display_name="Admin Kota Tangerang Selatan",
        )
        role_repo.assign_to_user(db, role_repo.get_or_create_global(db, "admin"), user.id)
        db.commit()
        secret = enrol_totp(rt, db, user)
        create_client(rt, db, name="Aplikasi Perizinan Usaha Mikro Kecil", status="pending")
    return secret


@pytest.fixture(params=[(360, 740), (1280, 800)], ids=["phone", "desktop"])
def context(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    width, height = request.param
    phone = width < 600
    ctx = browser.new_context(
        locale="id-ID",
        viewport={"width": width, "height": height},
        is_mobile=phone,
        has_touch=phone,
    )
    yield ctx
    ctx.close()


def check_page(page: Any, url: str, errors: list[str]) -> None:
    page.goto(url)
    assert page.evaluate(OVERFLOW) <= 1, url
    assert page.evaluate(UNLABELLED) == [], url
    assert errors == [], (url, errors)


def test_dashboard_and_audit_log_at_phone_and_desktop_widths(
    live_server: LiveServer, context: Any, admin_totp: str, backend: str
) -> None:
    page = context.new_page()
    errors: list[str] = []
    # The browser's own request for /favicon.ico is not the page's (the shared header of
    # issue 13 links an icon); any other error is.
    page.on(
        "console",
        lambda m: (
            errors.append(f"{m.text} {m.location}")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, live_server, "adminkota", admin_totp)
    base = live_server.url
    check_page(page, base + "/admin", errors)
    # The chart: an SVG with its axes, as wide as the content allows, and its text readable.
    chart = page.locator("#sign-in-chart")
    assert chart.is_visible() and page.locator("#sign-in-chart .axis--x").count() == 1
    box = chart.bounding_box()
    assert box and box["width"] <= page.viewport_size["width"]
    assert page.locator("#sign-in-chart rect.bar--ok").count() == 14
    assert page.locator('[data-stat="pending"]').inner_text() == "1"
    assert page.locator(".admin-nav .nav-badge").inner_text() == "1"
    page.click("details.chart-data summary")
    assert page.locator("#chart-table").is_visible()
    assert page.evaluate(OVERFLOW) <= 1
    # The audit log: choose two categories with the checkboxes (no script involved), filter.
    check_page(page, base + "/admin/audit", errors)
    page.click("details.audit-categories summary")
    page.check("#cat-signin")
    page.check("#cat-client")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**/admin/audit?*")
    kinds = page.locator("table.events tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.event)"
    )
    assert kinds and "user.login" in kinds and "client.created" in kinds
    assert not any(k.startswith(("key.", "token.", "code.")) for k in kinds)
    assert page.is_checked("#cat-signin") and not page.is_checked("#cat-key")
    assert "Masuk berhasil" in page.locator("table.events").inner_text()
    assert page.evaluate(OVERFLOW) <= 1
    # One event: names and ids, still without sideways scrolling.
    page.locator("table.events tbody tr a").first.click()
    page.wait_for_selector("dl.audit-event")
    assert page.evaluate(OVERFLOW) <= 1
    page.click("text=Kembali ke log audit")
    assert page.is_checked("#cat-signin")
    # A filter that matches nothing says so.
    check_page(page, base + "/admin/audit?cat=other", errors)
    assert "Tidak ada kejadian yang cocok" in page.locator("#no-events").inner_text()
