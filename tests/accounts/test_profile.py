"""The account console over HTTP, with a real SMTP server: a citizen registers, verifies the
email from the message that arrives, and uses every part of /account up to deleting the account;
a staff member logs in with the NIP. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.accounts.deletion import pseudonym
from sso.db.models import AccountToken, AuditEvent, Consent, Grant, LoginSession, User
from sso.oidc.backchannel import stop_background_deliveries
from sso.runtime import Runtime
from sso.web.app_runtime import AppRuntime
from tests.accounts import mailbox as smtp
from tests.accounts.conftest import rp_client
from tests.accounts.console import (
    console,
    events,
    post,
    redirected_to_login,
    refresh,
    sign_in_to_rp,
    text_of,
)
from tests.accounts.helpers import NEW_PASSWORD, PASSWORD, path_of, register
from tests.factories import create_agency, create_user
from tests.oidc.flow import csrf_of

EMAIL = "siti.aminah@example.id"
NIK = "3674016502900003"  # Tangerang Selatan, a woman born 25-02-1990 (day + 40)


def registered_and_verified(http: TestClient, mailbox: smtp.Mailbox) -> None:
    assert register(http).status_code == 200
    (mail,) = mailbox.wait(1)
    verified = http.get(path_of(mail.link("/register/verify?token=")))
    assert verified.status_code == 200
    mailbox.clear()


def user_row(db: Session, email: str = EMAIL) -> User:
    db.rollback()
    user = db.scalar(select(User).where(User.email_normalized == email))
    assert user is not None
    return user


def test_citizen_uses_every_part_of_the_console(
    http: TestClient, runtime: AppRuntime, db: Session, mailbox: smtp.Mailbox
) -> None:
    client, secret = rp_client(runtime, db, name="Portal Satu Data")
    registered_and_verified(http, mailbox)

    # Log in to the console with the email and the password chosen at registration.
    page = console(http, "/account?lang=en", EMAIL, PASSWORD)
    assert page.status_code == 200
    body = text_of(page)
    assert "My profile" in body and EMAIL in body and "Siti Aminah" in body
    assert 'href="/account/security"' in body  # the MFA pages, linked from the menu
    assert 'action="/logout/confirm"' in body  # the navigation's logout button
    assert 'href="/developers"' in body  # a verified account may register apps
    assert 'href="/admin"' not in body

    # Profile: name, phone (normalised), language.
    r = post(
        http,
        "/account",
        "/account/profile",
        {
            "name": "  Siti   Aminah Putri ",
            "phone": "0812 1111 2222",
            "locale": "en",
            "version": _version(db),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/account?done=profile&lang=en"
    saved = http.get(r.headers["location"])
    assert "Your profile has been saved." in text_of(saved)
    user = user_row(db)
    assert (user.display_name, user.phone, user.locale) == (
        "Siti Aminah Putri",
        "+6281211112222",
        "en",
    )
    [updated] = events(db, "user.profile_updated")
    assert updated.details == {"fields": ["name", "phone", "locale"]}
    assert "Siti" not in json.dumps(updated.details)

    # Email change: a link to the NEW address; nothing changes until it is opened.
    r = post(http, "/account/email", "/account/email", {"email": "Siti.Baru@Example.ID"})
    assert r.status_code == 200 and "Siti.Baru@Example.ID" in text_of(r)
    (mail,) = mailbox.wait(1)
    assert mail.rcpt_tos == ["Siti.Baru@Example.ID"]
    assert mail.subject == "Confirm the new email address of your Tangsel SSO account"
    assert user_row(db).email_normalized == EMAIL
    confirmed = http.get(path_of(mail.link("/account/email/confirm?token=tsso_ev_")))
    assert confirmed.status_code == 200 and "Email changed" in text_of(confirmed)
    new_email = "siti.baru@example.id"
    user = user_row(db, new_email)
    assert user.email_verified
    notices = mailbox.wait(2)
    notice = next(m for m in notices if m.rcpt_tos == [EMAIL])  # the OLD address is told
    assert "si*******@example.id" in notice.text
    assert len(events(db, "user.email_changed")) == 1
    # A second click says it is done; the old address no longer logs in.
    assert http.get(path_of(mail.link("/account/email/confirm"))).status_code == 200

    # NIK: validated, stored encrypted with a keyed hash, shown masked, never in the audit log.
    r = post(http, "/account/nik", "/account/nik", {"nik": "3674 0165 0290 0003", "action": "set"})
    assert r.status_code == 303
    shown = text_of(http.get("/account"))
    assert "3674**********03" in shown and NIK not in shown and "not verified" in shown
    user = user_row(db, new_email)
    assert user.nik_encrypted and NIK not in user.nik_encrypted
    assert runtime.encryptor.decrypt(user.nik_encrypted) == NIK and user.nik_hash
    assert NIK not in json.dumps([e.details for e in db.scalars(select(AuditEvent))])

    # The app: consent given, refresh token issued.
    tokens = sign_in_to_rp(http, client.client_id, secret, new_email)
    apps = text_of(http.get("/account/apps"))
    assert "Portal Satu Data" in apps

    # Password change: the current one is required; the app's refresh token dies.
    r = post(
        http,
        "/account/password",
        "/account/password",
        {
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/account/password?done=password"
    assert refresh(http, client.client_id, secret, tokens["refresh_token"]).status_code == 400
    assert len(events(db, "user.password_changed")) == 1
    assert http.get("/account").status_code == 200  # this browser stays logged in

    # Export: everything, NIK unmasked, no secret.
    r = http.get("/account/export")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["content-disposition"].startswith('attachment; filename="tangsel-sso-')
    data = r.json()
    assert data["profile"]["nik"] == NIK and data["profile"]["nik_verified"] is False
    assert data["profile"]["email"] == new_email and data["sessions"]
    assert [c["client_id"] for c in data["consents"]] == [client.client_id]
    assert any(e["event"] == "user.email_changed" for e in data["audit_events"])
    assert "$argon2" not in r.text and "tsso_" not in r.text

    # Deletion: password and confirmation; everything attached goes, audit keeps a pseudonym.
    user_id = user.id
    r = post(
        http, "/account/delete", "/account/delete", {"password": NEW_PASSWORD, "confirm": "yes"}
    )
    assert r.status_code == 200 and "Your account has been deleted" in text_of(r)
    db.rollback()
    assert db.get(User, user_id) is None
    for model in (LoginSession, Grant, Consent, AccountToken):
        assert not db.scalars(select(model).where(model.user_id == user_id)).all()
    [deleted] = events(db, "user.deleted")
    alias = pseudonym(runtime.settings, user_id)
    assert deleted.actor_id == deleted.target_id == alias != user_id
    assert deleted.ip is None and deleted.user_agent is None
    row = json.dumps({c: str(getattr(deleted, c)) for c in ("actor_id", "target_id", "details")})
    for personal in (user_id, new_email, EMAIL, "Siti", NIK, "+62812"):
        assert personal not in row
    # Older audit rows are append-only and stay as they were.
    assert events(db, "user.registered")[0].actor_id == user_id
    # Logging in afterwards fails, like any unknown account.
    http.cookies.clear()
    r = http.get("/account", follow_redirects=False)
    authorize = redirected_to_login(r)
    assert authorize["client_id"] == "tangselconsole"
    page = http.get(r.headers["location"], follow_redirects=True)
    failed = http.post(
        str(page.url).replace("http://testserver", "") + "/login",
        data={"username": new_email, "password": NEW_PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert failed.status_code == 401
    stop_background_deliveries(runtime, wait=True)


def _version(db: Session) -> str:
    return str(user_row(db).version)


def test_staff_member_logs_in_with_the_nip(
    http: TestClient, runtime: Runtime, db: Session, mailbox: smtp.Mailbox
) -> None:
    agency = create_agency(db, "BAPPEDA", "Badan Perencanaan Pembangunan Daerah")
    create_user(
        runtime,
        db,
        username="budi",
        kind="staff",
        display_name="Budi Santoso",
        nip="198503122010011001",
        position="Analis Kebijakan",
        agency_code=agency.code,
        password="a long staff passphrase 2024",
    )
    page = console(http, "/account?lang=en", "198503122010011001", "a long staff passphrase 2024")
    assert page.status_code == 200
    body = text_of(page)
    assert "Budi Santoso" in body and "198503122010011001" in body
    assert "Badan Perencanaan Pembangunan Daerah" in body and "Analis Kebijakan" in body
    assert "Add NIK" not in body
    data = text_of(http.get("/account/data"))
    assert "cannot be deleted here" in data and 'href="/account/delete"' not in data
