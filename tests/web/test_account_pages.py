"""The account console's pages and the navigation of logged-in pages, over HTTP: both
languages, the menu, links by role, the logout button, and the data export's contents (factors
described, never their secrets). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import html

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.accounts import mfa
from sso.core.crypto import keyed_hash
from sso.db.models import LoginSession, RecoveryCode, TotpCredential, User, WebAuthnCredential
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.factories import PASSWORD, create_user
from tests.oidc.flow import csrf_of, open_console_page

PAGES = (
    "/account",
    "/account/password",
    "/account/sessions",
    "/account/apps",
    "/account/data",
    "/account/email",
    "/account/nik",
    "/account/delete",
)


def text(response: httpx2.Response) -> str:
    return html.unescape(response.text)


def test_every_page_in_both_languages_with_the_menu(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    create_user(runtime, db, username="siti", display_name="Siti Aminah")
    assert open_console_page(http, "/account", "siti").status_code == 200
    for path in PAGES:
        page = http.get(path)
        assert page.status_code == 200, path
        body = text(page)
        assert body.count('aria-current="page"') == 2, path  # the area and the section
        assert "Profil" in body and "Perangkat" in body and "Data saya" in body, path
        english = text(http.get(path + "?lang=en"))
        assert "Profile" in english and "Devices" in english and "My data" in english, path
        http.cookies.delete("lang")
    menu = text(http.get("/account"))
    for href in (
        "/account",
        "/account/password",
        "/account/security",
        "/account/sessions",
        "/account/apps",
        "/account/data",
    ):
        assert f'href="{href}"' in menu


def test_navigation_shows_what_the_person_may_open(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    staff = create_user(
        runtime,
        db,
        username="budi",
        kind="staff",
        nip="198503122010011001",
        password="a long staff passphrase 2024",
    )
    with runtime.sessions() as s:
        s.get_one(User, staff.id).email_verified = False
        s.commit()
    page = text(open_console_page(http, "/account?lang=en", "budi", "a long staff passphrase 2024"))
    assert "My account" in page and 'href="/admin"' not in page
    # The developer portal is always in the menu (without a verified email it says why not).
    assert 'href="/developers"' in page
    with runtime.sessions() as s:
        role_repo.assign_to_user(s, role_repo.get_or_create_global(s, "admin"), staff.id)
        s.get_one(User, staff.id).email_verified = True
        s.commit()
    page = text(http.get("/account?lang=en"))
    assert 'href="/admin"' in page and 'href="/developers"' in page
    data = http.get("/account/export").json()
    assert data["agency"] == {"code": "DISKOMINFO", "name": "Dinas Komunikasi dan Informatika"}
    assert {"name": "admin", "client_id": None} in data["roles"]
    assert data["profile"]["nip"] == "198503122010011001" and data["profile"]["nik"] is None
    # Pages of people who are not logged in have no navigation.
    assert "user-menu" not in http.get("/register").text


def test_the_logout_button_ends_the_session(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    siti = create_user(runtime, db, username="siti")
    page = open_console_page(http, "/account?lang=en", "siti")
    nav = page.text.split('class="user-menu"', 1)[1].split("</nav>", 1)[0]
    assert 'action="/logout/confirm"' in nav and 'name="confirm" value="yes"' in nav
    r = http.post("/logout/confirm?lang=en", data={"confirm": "yes", "csrf_token": csrf_of(nav)})
    assert r.status_code == 200 and "You have signed out" in text(r)
    db.rollback()
    [row] = db.scalars(select(LoginSession).where(LoginSession.user_id == siti.id)).all()
    assert row.ended_at is not None
    assert http.get("/account", follow_redirects=False).status_code == 303


def test_export_describes_factors_without_their_secrets(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    siti = create_user(runtime, db, username="siti")
    assert open_console_page(http, "/account/data", "siti").status_code == 200
    seed = "JBSWY3DPEHPK3PXP"
    db.add(TotpCredential(user_id=siti.id, secret_encrypted=runtime.encryptor.encrypt(seed)))
    db.add(RecoveryCode(user_id=siti.id, code_hash=keyed_hash(b"k", "code-1")))
    db.add(
        WebAuthnCredential(
            user_id=siti.id,
            credential_id="Y3JlZC1pZA",
            public_key="cHVibGlj",
            name="Ponsel Siti",
            transports=["internal"],
        )
    )
    db.commit()
    r = http.get("/account/export")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    data = r.json()
    assert data["format"] == "tangsel-sso-personal-data/1"
    assert data["profile"]["username"] == "siti" and data["profile"]["has_password"] is True
    assert data["mfa"]["totp"]["kind"].startswith("authenticator app")
    assert data["mfa"]["recovery_codes"] == {"issued": 1, "unused": 1}
    assert data["mfa"]["passkeys"][0]["name"] == "Ponsel Siti"
    for secret in (seed, "Y3JlZC1pZA", "cHVibGlj", keyed_hash(b"k", "code-1"), "$argon2"):
        assert secret not in r.text
    assert any(e["event"] == "user.login" for e in data["audit_events"])
    assert data["sessions"][0]["device"] is None or isinstance(data["sessions"][0]["device"], str)


def test_deleting_the_account_removes_its_mfa_factors(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    siti = create_user(runtime, db, username="siti")
    assert open_console_page(http, "/account/delete", "siti").status_code == 200
    db.add(TotpCredential(user_id=siti.id, secret_encrypted=runtime.encryptor.encrypt("X")))
    db.add(RecoveryCode(user_id=siti.id, code_hash=keyed_hash(b"k", "code-2")))
    db.add(WebAuthnCredential(user_id=siti.id, credential_id="Y3JlZC0y", public_key="cA"))
    codes = mfa.new_recovery_codes(db, runtime.settings, siti.id, actor_id=siti.id)
    db.commit()
    token = csrf_of(http.get("/account/delete").text)
    # Recovery codes left: the deletion asks for one of them (the second factor).
    r = http.post(
        "/account/delete",
        data={"password": PASSWORD, "confirm": "yes", "code": codes[0], "csrf_token": token},
    )
    assert r.status_code == 200
    db.rollback()
    for model in (TotpCredential, RecoveryCode, WebAuthnCredential):
        assert not db.scalars(select(model).where(model.user_id == siti.id)).all()
    assert db.get(User, siti.id, populate_existing=True) is None
