"""The header of signed-in pages (one menu on the account console, /account/security, the admin
console and the developer portal), the home page and its icon."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.admin.access import ADMIN_ROLES
from sso.db.models import LoginSession
from sso.runtime import Runtime
from sso.web import navigation
from tests.admin.conftest import browser, person
from tests.factories import create_agency, create_user
from tests.oidc.flow import csrf_of, open_console_page

MENU_RE = re.compile(r'<nav class="user-menu".*?</nav>', re.S)


def menu_of(page: Any) -> str:
    assert page.status_code == 200, (page.status_code, page.text[:300])
    found = MENU_RE.search(page.text)
    assert found is not None, "the page has no user menu"
    return found.group(0)


def links_of(menu: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)" data-nav=', menu)


def assert_sign_out_form(menu: str) -> None:
    assert '<form class="user-menu__logout" method="post" action="/logout/confirm">' in menu
    assert 'name="confirm" value="yes"' in menu
    assert re.search(r'name="csrf_token" value="[0-9a-f]{64}"', menu)


def test_admin_roles_of_the_header_are_the_admin_consoles() -> None:
    assert frozenset(ADMIN_ROLES) == navigation.ADMIN_ROLES


def test_a_citizen_gets_the_menu_on_account_security_and_developer_pages(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    create_user(runtime, db, username="siti", display_name="Siti Aminah")
    pages = {
        "/account": "account",
        "/account/sessions": "account",
        "/account/security": "security",
        "/account/security/totp": "security",
        "/account/security/passkeys/new": "security",
        "/developers": "developers",
        "/developers/apps/new": "developers",
    }
    for path, current in pages.items():
        page = open_console_page(http, path, "siti")
        menu = menu_of(page)
        assert "Siti Aminah" in menu, path
        assert links_of(menu) == ["/account", "/account/security", "/developers"], path
        assert f'data-nav="{current}" aria-current="page"' in menu, path
        assert menu.count("aria-current") == 1, path
        assert_sign_out_form(menu)
        assert "Keluar" in menu and "Menu pengguna" in menu
    # /account/security is a page of the account console: its section menu, marked.
    security = http.get("/account/security").text
    assert 'class="console__menu"' in security
    assert 'href="/account/security" aria-current="page"' in security
    english = menu_of(http.get("/account?lang=en"))
    assert "Sign out" in english and "Developer portal" in english and "Account security" in english


def test_each_admin_role_gets_the_admin_console_link(
    app: FastAPI, runtime: Runtime, db: Session
) -> None:
    create_agency(db, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
    nips = iter(
        ["198001012005011001", "198202022006022002", "198303032007031003", "198404042008042004"]
    )
    for role in ADMIN_ROLES:
        user, secret = person(runtime, db, f"p{role.replace('-', '')}", role=role, nip=next(nips))
        b = browser(app, user, secret)
        try:
            for path in ("/admin", "/account", "/developers"):
                menu = menu_of(b.http.get(path))
                assert links_of(menu) == [
                    "/account",
                    "/account/security",
                    "/admin",
                    "/developers",
                ], (role, path)
                assert user.display_name in menu
                assert_sign_out_form(menu)
            assert 'data-nav="admin" aria-current="page"' in menu_of(b.http.get("/admin"))
        finally:
            b.http.close()


def test_staff_without_an_admin_role_get_no_admin_link(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    create_user(runtime, db, username="budi", kind="staff", nip="198503122010011001")
    menu = menu_of(open_console_page(http, "/account", "budi"))
    assert "/admin" not in menu


def test_signing_out_through_the_menu_ends_the_session(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    siti = create_user(runtime, db, username="siti")
    menu = menu_of(open_console_page(http, "/account/security", "siti"))
    r = http.post("/logout/confirm", data={"confirm": "yes", "csrf_token": csrf_of(menu)})
    assert r.status_code == 200
    assert "Anda telah keluar" in r.text
    assert 'href="/account" id="sign-in-again"' in r.text and "Masuk lagi" in r.text
    db.rollback()
    [row] = db.scalars(select(LoginSession).where(LoginSession.user_id == siti.id)).all()
    assert row.ended_at is not None
    assert http.get("/account", follow_redirects=False).status_code == 303


def test_home_page_for_a_visitor_and_for_a_signed_in_person(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    page = http.get("/")
    assert page.status_code == 200
    body = page.text
    assert "layanan masuk tunggal Kota Tangerang Selatan" in body
    actions = body.split('id="home-actions"', 1)[1].split("</div>", 1)[0]
    assert '<a class="button button--primary" href="/account">Masuk</a>' in actions
    assert 'href="/register">Daftar</a>' in actions
    assert ">Akun saya</a>" in body and 'href="/developers">Portal pengembang</a>' in body
    assert 'class="user-menu"' not in body
    assert "/.well-known/openid-configuration" in body
    create_user(runtime, db, username="siti", display_name="Siti Aminah")
    open_console_page(http, "/account", "siti")
    signed_in = http.get("/").text
    assert "Anda masuk sebagai Siti Aminah." in signed_in
    assert ">Masuk</a>" not in signed_in and ">Daftar</a>" not in signed_in
    assert "Siti Aminah" in menu_of(http.get("/"))
    english = http.get("/?lang=en").text
    assert "You are signed in as Siti Aminah." in english and "My account" in english


def test_favicon(http: TestClient) -> None:
    page = http.get("/").text
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page)
    assert link is not None
    svg = http.get(html.unescape(link.group(1)))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    ico = http.get("/favicon.ico")
    assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
    assert ico.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
