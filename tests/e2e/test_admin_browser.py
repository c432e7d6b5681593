"""The admin UI in headless Chromium: the journeys of an admin, an OPD admin, a helpdesk
agent and an auditor, each allowed what the role allows and refused the rest; a conflict on
a stale edit; a CSV import watched until done; the phone layout."""

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

STAFF_NIP = "199001012015011009"


@pytest.fixture
def people(live_server: LiveServer) -> dict[str, Any]:
    rt: Runtime = live_server.runtime
    out: dict[str, Any] = {}
    with rt.sessions() as db:
        top = create_agency(db, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
        create_agency(db, "DINKES", "Dinas Kesehatan")
        sub = create_agency(db, "BIDANG-TI", "Bidang Teknologi Informasi")
        sub.parent_id = top.id
        db.commit()
        for username, role, agency in (
            ("adminkota", "admin", "DISKOMINFO"),
            ("adminopd", "opd-admin", "DISKOMINFO"),
            ("bantuan", "helpdesk", "DINKES"),
            ("pemeriksa", "auditor", "DINKES"),
        ):
            user = create_user(
                rt,
                db,
                username=username,
                kind="staff",
                agency_code=agency,
                display_name=username.title(),
            )
            role_repo.assign_to_user(db, role_repo.get_or_create_global(db, role), user.id)
            db.commit()
            out[username] = enrol_totp(rt, db, user)
        out["ti"] = create_user(
            rt,
            db,
            username="pegawaiti",
            kind="staff",
            agency_code="BIDANG-TI",
            display_name="Pegawai TI",
            nip=STAFF_NIP,
        ).id
        out["dinkes"] = create_user(
            rt,
            db,
            username="pegawaidinkes",
            kind="staff",
            agency_code="DINKES",
            display_name="Pegawai Dinkes",
        ).id
    return out


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(locale="id-ID", accept_downloads=True)
    yield ctx
    ctx.close()


def log_in(page: Any, server: LiveServer, username: str, totp: str, path: str = "/admin") -> None:
    page.goto(server.url + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#totp-form")
    page.fill("#code", totp_code(totp))
    page.click("#totp-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(server.url + path) + "$"))


def refused(page: Any, server: LiveServer, path: str) -> None:
    response = page.goto(server.url + path)
    assert response.status == 403
    assert "tidak berwenang" in page.content()


def test_admin_journey(
    live_server: LiveServer, context: Any, people: dict[str, Any], backend: str
) -> None:
    page = context.new_page()
    log_in(page, live_server, "adminkota", people["adminkota"])
    assert page.locator("svg rect.bar--ok").count() == 14
    assert page.locator('[data-stat="staff"]').inner_text() == "6"
    # Find a person by the start of their NIP, open, edit.
    page.click("a[href='/admin/users']")
    page.fill("#q", STAFF_NIP[:10])
    page.click("form[role=search] button[type=submit]")
    page.click("text=Pegawai TI")
    page.fill("#position", "Pranata Komputer")
    page.click("#edit-user button[type=submit]")
    assert "Perubahan disimpan" in page.locator(".alert--ok").inner_text()
    # Two tabs with the same record: the stale one gets a conflict, not an overwrite.
    url = page.url.split("?")[0]
    first, second = context.new_page(), context.new_page()
    first.goto(url)
    second.goto(url)
    first.fill("#display_name", "Pegawai TI Satu")
    first.click("#edit-user button[type=submit]")
    second.fill("#display_name", "Pegawai TI Dua")
    second.click("#edit-user button[type=submit]")
    assert "sudah diubah orang lain" in second.locator(".alert--error").inner_text()
    first.goto(url)
    assert first.locator("h1").inner_text() == "Pegawai TI Satu"
    # Import two staff from CSV and watch the job finish (the page reloads itself).
    page.goto(live_server.url + "/admin/imports")
    csv_text = (
        "nip,name,email,agency_code,position\n"
        "198501012010011001,Siti Rahma,siti@tangsel.go.id,DISKOMINFO,Analis\n"
        "123,Salah,salah@tangsel.go.id,DISKOMINFO,Staf\n"
    )
    page.set_input_files(
        "#file", {"name": "staf.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}
    )
    page.click("form[enctype] button[type=submit]")
    page.wait_for_selector('#import-status[data-status="validated"]', timeout=60_000)
    assert page.locator('[data-count="create"]').inner_text() == "1"
    assert page.locator('[data-count="refuse"]').inner_text() == "1"
    page.click("#apply-import")
    page.wait_for_selector('#import-status[data-status="applied"]', timeout=60_000)
    assert page.locator("#import-applied").is_visible()
    # Everything else an admin has is reachable.
    for path in (
        "/admin/agencies",
        "/admin/roles",
        "/admin/clients",
        "/admin/sessions",
        "/admin/keys",
        "/admin/audit",
    ):
        assert page.goto(live_server.url + path).status == 200


def test_opd_admin_journey(
    live_server: LiveServer, context: Any, people: dict[str, Any], backend: str
) -> None:
    page = context.new_page()
    log_in(page, live_server, "adminopd", people["adminopd"], "/admin/users")
    rows = page.locator("#users tbody tr").all_inner_texts()
    assert any("Pegawai TI" in r for r in rows)
    assert not any("Pegawai Dinkes" in r for r in rows)
    assert page.locator("a[href='/admin/clients']").count() == 0
    refused(page, live_server, f"/admin/users/{people['dinkes']}")
    refused(page, live_server, "/admin/clients")
    refused(page, live_server, "/admin/audit")
    page.goto(live_server.url + f"/admin/users/{people['ti']}")
    page.fill("#position", "Kepala Subbagian")
    page.click("#edit-user button[type=submit]")
    assert "Perubahan disimpan" in page.locator(".alert--ok").inner_text()


def test_helpdesk_journey(
    live_server: LiveServer, context: Any, people: dict[str, Any], backend: str
) -> None:
    page = context.new_page()
    log_in(page, live_server, "bantuan", people["bantuan"], f"/admin/users/{people['dinkes']}")
    assert page.locator("#edit-user").count() == 0
    assert page.locator("[data-action=disable]").count() == 0
    # Unlock is offered only to a locked account (tests/admin/test_user_page.py locks one).
    assert page.locator("[data-action=unlock]").count() == 0
    assert "Tidak terkunci" in page.locator("#lock-state").inner_text()
    page.click("[data-action=reset-mfa]")  # a confirmation page first
    page.click("#confirm-button")
    assert "Faktor kedua dihapus" in page.locator(".alert--ok").inner_text()
    refused(page, live_server, "/admin/roles")
    refused(page, live_server, "/admin/keys")


def test_auditor_journey(
    live_server: LiveServer, context: Any, people: dict[str, Any], backend: str
) -> None:
    page = context.new_page()
    log_in(page, live_server, "pemeriksa", people["pemeriksa"], "/admin/audit")
    page.fill("#event", "user.login")
    page.click(".filters button[type=submit]")
    events = page.locator("table.events tbody tr").all_inner_texts()
    assert events and all("user.login" in e for e in events)
    with page.expect_download() as download:
        page.click("#export-csv")
    path = download.value.path()
    assert path is not None
    with open(path, encoding="utf-8") as f:
        assert f.readline().startswith("id,created_at,event")
    refused(page, live_server, "/admin/users")
    refused(page, live_server, f"/admin/users/{people['ti']}")


def test_phone_layout(
    live_server: LiveServer, browser: Any, people: dict[str, Any], backend: str
) -> None:
    ctx = browser.new_context(
        locale="en-US", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    try:
        page = ctx.new_page()
        log_in(page, live_server, "adminkota", people["adminkota"], "/admin/users")
        for path in ("/admin/users", "/admin", "/admin/audit", f"/admin/users/{people['ti']}"):
            page.goto(live_server.url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, (path, overflow)
        assert page.locator("h1").first.is_visible()
    finally:
        ctx.close()
