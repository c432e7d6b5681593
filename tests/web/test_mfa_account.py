"""``/account/security``: TOTP enrolment with a QR code, recovery codes, removing factors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.core.clock import FrozenClock, set_clock
from sso.db.models import AuditEvent, RecoveryCode, TotpCredential, User
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.factories import create_client, create_user, enrol_totp
from tests.oidc.flow import authorize_url, csrf_of, login, open_console_page, totp_code

KEY_RE = re.compile(r'id="totp-key">([A-Z2-7 ]+)<')
CODE_RE = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


@pytest.fixture
def siti(runtime: Runtime, db: Session) -> User:
    return create_user(runtime, db, username="siti")


def events_named(db: Session, name: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)).all())


def enrol_through_page(http: TestClient, username: str = "siti") -> tuple[str, list[str]]:
    page: Any = open_console_page(http, "/account/security/totp", username)
    assert page.status_code == 200
    assert "<svg" in page.text and 'class="qr-code"' in page.text
    key = KEY_RE.search(page.text)
    assert key is not None
    secret = key.group(1).replace(" ", "")
    r = http.post(
        "/account/security/totp", data={"code": totp_code(secret), "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 200, r.text
    return secret, CODE_RE.findall(r.text)


def test_enrol_totp_with_qr_code_then_log_in_with_it(
    http: TestClient, siti: User, runtime: Runtime, db: Session
) -> None:
    page: Any = open_console_page(http, "/account/security", "siti")
    assert page.status_code == 200
    assert "Belum terpasang" in page.text
    secret, codes = enrol_through_page(http)
    assert len(codes) == 10
    # The QR code carries the standard otpauth URI of the same secret (checked in the model).
    stored = db.get(TotpCredential, siti.id)
    assert stored is not None and stored.confirmed_at is not None
    assert secret not in stored.secret_encrypted
    assert runtime.encryptor.decrypt(stored.secret_encrypted) == secret
    assert len(events_named(db, "mfa.totp_enrolled")) == 1
    assert "Aktif" in http.get("/account/security").text
    # A relying party's login now asks for the code.
    client, _ = create_client(runtime, db)
    http.cookies.clear()
    req = authorize_url(client.client_id)
    location = login(http, req, "siti", totp_secret=secret)
    assert "code=" in location


def test_a_wrong_code_does_not_enrol(http: TestClient, siti: User, db: Session) -> None:
    page: Any = open_console_page(http, "/account/security/totp", "siti")
    key = KEY_RE.search(page.text)
    assert key is not None
    # Reloading keeps the same secret (the person may have scanned it already).
    assert key.group(1) in http.get("/account/security/totp").text
    r = http.post("/account/security/totp", data={"code": "abc", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 400
    assert "Kode salah" in r.text
    stored = db.get(TotpCredential, siti.id)
    assert stored is not None and stored.confirmed_at is None
    assert events_named(db, "mfa.totp_enrolled") == []


def test_regenerating_codes_voids_the_old_ones(
    http: TestClient, siti: User, runtime: Runtime, db: Session
) -> None:
    _, first = enrol_through_page(http)
    page = http.get("/account/security")
    r = http.post("/account/security/recovery-codes", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 200
    second = CODE_RE.findall(r.text)
    assert len(second) == 10 and not set(first) & set(second)
    db.expire_all()
    assert len(db.scalars(select(RecoveryCode)).all()) == 10
    assert len(events_named(db, "mfa.recovery_codes_generated")) == 2


def test_removing_a_factor_needs_a_recent_login(
    http: TestClient, siti: User, runtime: Runtime, db: Session
) -> None:
    secret, _ = enrol_through_page(http)
    page = http.get("/account/security")
    clock = FrozenClock()
    previous = set_clock(clock)
    try:
        clock.advance(600)  # the login is 10 minutes old now
        r = http.post(
            "/account/security/totp/remove",
            data={"csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/authorize")
        assert "max_age=300" in r.headers["location"]
        db.expire_all()
        assert db.get(TotpCredential, siti.id) is not None
        # Logging in again (password and the code) and retrying works.
        again: Any = open_console_page(
            http, "/account/security/passkeys/new", "siti", totp_secret=secret
        )
        assert again.status_code == 200
        page = http.get("/account/security")
        r = http.post(
            "/account/security/totp/remove",
            data={"csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert (
            r.status_code == 303 and r.headers["location"] == "/account/security?done=totp_removed"
        )
    finally:
        set_clock(previous)
    db.expire_all()
    assert db.get(TotpCredential, siti.id) is None
    assert len(events_named(db, "mfa.totp_removed")) == 1


def test_an_admin_cannot_remove_the_last_factor(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    budi = create_user(runtime, db, username="budi", kind="staff")
    role_repo.assign_to_user(db, role_repo.get_or_create_global(db, "helpdesk"), budi.id)
    db.commit()
    secret = enrol_totp(runtime, db, budi)
    page: Any = open_console_page(http, "/account/security", "budi", totp_secret=secret)
    assert "wajib" in page.text
    r = http.post("/account/security/totp/remove", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 409
    assert "sebelum menghapus yang terakhir" in r.text
    db.expire_all()
    assert db.get(TotpCredential, budi.id) is not None


def test_forms_need_csrf(http: TestClient, siti: User) -> None:
    open_console_page(http, "/account/security", "siti")
    r = http.post("/account/security/recovery-codes", data={})
    assert r.status_code == 403


def test_english_page(http: TestClient, siti: User) -> None:
    page: Any = open_console_page(http, "/account/security?lang=en", "siti")
    assert "Account security" in page.text and "Not set up." in page.text
