"""Forgotten password over HTTP with a real SMTP server: request, mail, reset; what the reset
ends (sessions, refresh tokens); single use, expiry, newer links void older ones; the same
answer for unknown addresses; no password or token in any log line. SQLite and PostgreSQL."""

from __future__ import annotations

import html
import logging

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sso.db.models import AccountToken, AuditEvent, Grant, LoginSession, RefreshToken
from tests.accounts.conftest import rp_client
from tests.accounts.helpers import (
    NEW_PASSWORD,
    forgot,
    path_of,
    register,
    reset_form,
    submit_reset,
    token_of,
)
from tests.factories import PASSWORD, create_user
from tests.oidc.flow import authorize_url, csrf_of, login, query_of

RP = "https://rp.example.id/callback"


def text_of(response: httpx.Response) -> str:
    return html.unescape(response.text)


def events(db, name: str) -> list[AuditEvent]:
    db.rollback()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def login_refused(http: TestClient, client_id: str, username: str, password: str) -> bool:
    r = http.get(authorize_url(client_id).url, follow_redirects=False)
    interaction = r.headers["location"]
    page = http.get(interaction)
    assert 'name="password"' in page.text
    r = http.post(
        f"{interaction}/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    return r.status_code == 401


def tokens_for(http: TestClient, client_id: str, secret: str, username: str) -> dict[str, str]:
    """Log in through /authorize with offline_access and redeem the code at /token."""
    req = authorize_url(client_id, scope="openid profile email offline_access")
    location = login(http, req, username)
    code = query_of(location)["code"]
    r = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": req.verifier,
        },
        auth=(client_id, secret),
    )
    assert r.status_code == 200, r.text
    body: dict[str, str] = r.json()
    assert body["refresh_token"].startswith("tsso_rt_")
    return body


@pytest.fixture
def siti(runtime, db):
    return create_user(runtime, db, username="siti", email="siti@example.id")


@pytest.fixture
def rp(runtime, db):
    return rp_client(runtime, db)


def test_forgot_mail_reset_ends_sessions_and_refresh_tokens(
    app, http, runtime, db, mailbox, siti, rp
):
    client, secret = rp
    # The person is logged in in one browser, and an app holds a refresh token.
    tokens = tokens_for(http, client.client_id, secret, "siti")
    db.rollback()
    assert db.scalar(select(LoginSession).where(LoginSession.ended_at.is_(None))) is not None

    with TestClient(app, base_url="http://testserver") as other:  # another device
        r = forgot(other, "Siti@Example.id")
        assert r.status_code == 200 and "Periksa email Anda" in text_of(r)
        (mail,) = mailbox.wait(1)
        assert mail.rcpt_tos == ["siti@example.id"]
        assert mail.subject == "Buat kata sandi baru untuk Tangsel SSO" and "30 menit" in mail.text
        link = mail.link("/password/reset?token=tsso_pr_")
        assert html.escape(link) in mail.html

        form = reset_form(other, link)
        assert form.status_code == 200 and "Buat kata sandi baru" in text_of(form)
        assert 'name="token"' in form.text
        done = submit_reset(other, link)
        assert done.status_code == 200 and "Kata sandi diperbarui" in text_of(done)

    db.rollback()
    assert db.scalar(select(LoginSession).where(LoginSession.ended_at.is_(None))) is None
    assert all(g.revoked_at is not None for g in db.scalars(select(Grant)))
    assert all(t.revoked_at is not None for t in db.scalars(select(RefreshToken)))
    refreshed = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client.client_id, secret),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"

    # The first browser's session is over: /authorize asks for a password again.
    assert login_refused(http, client.client_id, "siti", PASSWORD)  # the old one fails
    location = login(http, authorize_url(client.client_id), "siti", NEW_PASSWORD)
    assert location.startswith(RP) and "code" in query_of(location)

    (reset_event,) = events(db, "user.password_reset")
    assert reset_event.target_id == siti.id
    # Sessions and grants were ended through the OIDC path, which also queues back-channel
    # logouts for the relying parties; each shows in the audit log.
    kinds = set(db.scalars(select(AuditEvent.event)).all())
    assert {"session.ended", "grant.revoked"} <= kinds, kinds
    assert len(events(db, "user.password_reset_requested")) == 1
    assert [e.details["reason"] for e in events(db, "session.ended")] == ["password_reset"]


def test_reset_in_english_and_policy_applies(http, db, mailbox, siti):
    forgot(http, "siti@example.id", lang="en")
    (mail,) = mailbox.wait(1)
    assert mail.subject == "Choose a new password for Tangsel SSO" and "30 minutes" in mail.text
    link = mail.link("/password/reset")
    cases = [
        ("kopi 12", "The password is too short: at least 8 characters."),
        ("z" * 129, "The password is too long: at most 128 characters."),
        ("qwertyuiop", "one of the most commonly used"),
        ("my name is siti really", "must not contain your username"),
    ]
    for password, expected in cases:
        r = submit_reset(http, link, password, lang="en")
        assert r.status_code == 400 and expected in text_of(r), password
        assert password not in r.text
    r = submit_reset(http, link, NEW_PASSWORD, confirm="not the same at all", lang="en")
    assert r.status_code == 400 and "The two passwords are not the same" in text_of(r)
    # Refusals leave the link usable.
    assert submit_reset(http, link, lang="en").status_code == 200


def test_staff_need_twelve_characters(http, runtime, db, mailbox):
    create_user(runtime, db, username="budi", email="budi@example.id", kind="staff")
    forgot(http, "budi@example.id")
    link = mailbox.wait(1)[0].link("/password/reset")
    form = reset_form(http, link)
    assert "Minimal 12 karakter" in text_of(form)
    r = submit_reset(http, link, "sebelas kar")  # 11 characters
    assert r.status_code == 400 and "minimal 12 karakter" in text_of(r)
    assert submit_reset(http, link, "dua belas kar").status_code == 200


def test_reset_link_works_once(http, db, mailbox, siti):
    forgot(http, "siti@example.id")
    link = mailbox.wait(1)[0].link("/password/reset")
    page = reset_form(http, link)
    assert submit_reset(http, link, csrf=csrf_of(page.text)).status_code == 200
    again = submit_reset(http, link, "yet another long passphrase", csrf=csrf_of(page.text))
    assert again.status_code == 400 and "Tautan tidak berlaku" in text_of(again)
    r = reset_form(http, link)
    assert r.status_code == 400 and "sudah dipakai" in text_of(r)
    assert 'href="/password/forgot"' in r.text


def test_reset_link_expires_after_30_minutes(http, db, mailbox, siti, frozen_clock):
    forgot(http, "siti@example.id")
    link = mailbox.wait(1)[0].link("/password/reset")
    frozen_clock.advance(29 * 60)
    assert reset_form(http, link).status_code == 200
    page = reset_form(http, link)
    frozen_clock.advance(61)
    assert reset_form(http, link).status_code == 400
    r = submit_reset(http, link, csrf=csrf_of(page.text))
    assert r.status_code == 400 and "kedaluwarsa" in text_of(r)


def test_newer_request_voids_the_older_link(http, db, mailbox, siti):
    forgot(http, "siti@example.id")
    forgot(http, "siti@example.id")
    older, newer = (m.link("/password/reset") for m in mailbox.wait(2))
    assert older != newer
    assert reset_form(http, older).status_code == 400
    assert reset_form(http, newer).status_code == 200
    db.rollback()
    rows = list(db.scalars(select(AccountToken)))
    assert sorted(r.voided_at is None for r in rows) == [False, True]


def test_unknown_email_answers_the_same_and_sends_nothing(http, db, mailbox, siti):
    known = forgot(http, "siti@example.id")
    mailbox.wait(1)
    unknown = forgot(http, "nobody@example.id")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("siti@example.id", "X") == unknown.text.replace(
        "nobody@example.id", "X"
    )
    assert len(mailbox.messages()) == 1
    outcomes = sorted(e.outcome for e in events(db, "user.password_reset_requested"))
    assert outcomes == ["failure", "success"]


def test_malformed_email_is_explained(http, db, mailbox):
    r = forgot(http, "not an email")
    assert r.status_code == 400 and "Alamat email tidak valid" in text_of(r)
    r = forgot(http, "still not", lang="en")
    assert r.status_code == 400 and "This email address is not valid" in text_of(r)
    assert mailbox.messages() == []


def test_reset_of_an_unverified_citizen_verifies_the_email(http, db, mailbox):
    register(http, email="rudi@example.id", name="Rudi")
    mailbox.wait(1)
    forgot(http, "rudi@example.id")
    link = mailbox.wait(2)[1].link("/password/reset")
    assert submit_reset(http, link).status_code == 200
    db.rollback()
    from sso.db.models import User

    assert db.scalar(select(User.email_verified).where(User.email_normalized == "rudi@example.id"))


def test_forgot_and_reset_posts_need_csrf(http, db, mailbox, siti):
    assert http.post("/password/forgot", data={"email": "siti@example.id"}).status_code == 403
    assert (
        http.post(
            "/password/reset", data={"token": "x", "password": "p", "password_confirm": "p"}
        ).status_code
        == 403
    )
    assert mailbox.messages() == []


def test_no_password_or_token_in_any_log_line(http, runtime, db, mailbox, caplog, siti):
    caplog.set_level(logging.DEBUG)
    client, _ = rp_client(runtime, db)
    register(http, email="log@example.id", password="a secret passphrase to hide")
    verify_link = mailbox.wait(1)[0].link("/register/verify")
    http.get(path_of(verify_link))
    forgot(http, "siti@example.id")
    reset_link = mailbox.wait(2)[1].link("/password/reset")
    submit_reset(http, reset_link, "the new hidden passphrase")
    login(http, authorize_url(client.client_id), "siti", "the new hidden passphrase")

    secrets = [
        "a secret passphrase to hide",
        "the new hidden passphrase",
        token_of(verify_link),
        token_of(reset_link),
    ]
    lines = [record.getMessage() for record in caplog.records] + [caplog.text]
    assert any("/password/reset" in line for line in lines)  # the requests were logged
    for secret in secrets:
        assert not any(secret in line for line in lines), secret
