"""Devices and connected apps in the account console, seen from the relying party's side too:
ending a session sends it a back-channel logout token, changing the password or revoking the app
makes its refresh token fail at /token, deleting the account logs it out everywhere. Runs on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.accounts.deletion import pseudonym
from sso.db.models import BackchannelLogoutDelivery, Client, Consent, LoginSession, User
from sso.oidc.backchannel import BACKCHANNEL_EVENT, stop_background_deliveries
from sso.runtime import Runtime
from sso.web.app_runtime import AppRuntime
from tests.accounts.console import (
    RP,
    Receiver,
    console,
    events,
    post,
    redirected_to_login,
    refresh,
    sign_in_to_rp,
    text_of,
)
from tests.factories import PASSWORD, create_client, create_user
from tests.oidc.flow import authorize_url, login

PHONE = (
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
)
NEW = "nasi uduk di pagi hari"


@pytest.fixture
def receiver(runtime: AppRuntime) -> Iterator[Receiver]:
    r = Receiver()
    yield r
    stop_background_deliveries(runtime, wait=True)
    r.close()


@pytest.fixture(autouse=True)
def _insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def rp(runtime: Runtime, db: Session, receiver: Receiver) -> tuple[Client, str]:
    client, secret = create_client(
        runtime,
        db,
        name="Festival Tangsel",
        redirect_uris=[RP],
        backchannel_logout_uri=receiver.url,
    )
    assert secret
    return client, secret


@pytest.fixture
def siti(runtime: Runtime, db: Session) -> User:
    return create_user(runtime, db, username="siti", display_name="Siti")


@pytest.fixture
def phone(app: FastAPI) -> Iterator[TestClient]:
    """Siti's phone: another browser with a cookie jar of its own."""
    with TestClient(app, base_url="http://testserver", headers={"User-Agent": PHONE}) as client:
        yield client


def logout_claims(http: TestClient, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(http.get("/jwks.json").json())
    claims = dict(jwt.decode(token, keys).claims)
    assert BACKCHANNEL_EVENT in claims["events"]
    return claims


def live_sessions(db: Session, user_id: str) -> list[LoginSession]:
    db.rollback()
    return list(
        db.scalars(
            select(LoginSession).where(
                LoginSession.user_id == user_id, LoginSession.ended_at.is_(None)
            )
        )
    )


def test_sessions_page_and_logging_out_another_device(
    http: TestClient,
    phone: TestClient,
    db: Session,
    rp: tuple[Client, str],
    receiver: Receiver,
    siti: User,
) -> None:
    client, secret = rp
    sign_in_to_rp(phone, client.client_id, secret, "siti", scope="openid profile")
    page = console(http, "/account/sessions?lang=en", "siti")
    body = text_of(page)
    assert "this device" in body and "Chrome · Android" in body and "Festival Tangsel" in body
    [phone_session] = [s for s in live_sessions(db, siti.id) if s.user_agent == PHONE]

    r = post(http, "/account/sessions", "/account/sessions/end", {"session_id": phone_session.id})
    assert r.status_code == 303 and r.headers["location"] == "/account/sessions?done=ended"
    assert "That device has been signed out." in text_of(
        http.get(r.headers["location"] + "&lang=en")
    )
    [token] = receiver.wait(1)
    claims = logout_claims(http, token)
    assert claims["sub"] == siti.id and claims["sid"] == phone_session.id
    assert claims["aud"] == client.client_id
    redirected_to_login(phone.get("/account", follow_redirects=False))  # the phone is out
    assert http.get("/account").status_code == 200  # this browser is not
    [logout] = [e for e in events(db, "user.logout") if e.target_id == phone_session.id]
    assert logout.actor_id == siti.id


def test_log_out_all_other_devices_and_this_one(
    http: TestClient,
    phone: TestClient,
    app: FastAPI,
    db: Session,
    rp: tuple[Client, str],
    receiver: Receiver,
    siti: User,
) -> None:
    client, secret = rp
    sign_in_to_rp(phone, client.client_id, secret, "siti", scope="openid profile")
    with TestClient(app, base_url="http://testserver") as laptop:
        assert console(laptop, "/account", "siti").status_code == 200
        assert console(http, "/account", "siti").status_code == 200
        assert len(live_sessions(db, siti.id)) == 3
        r = post(http, "/account/sessions", "/account/sessions/end-others", {})
        assert r.status_code == 303 and r.headers["location"] == "/account/sessions?done=others"
        [mine] = live_sessions(db, siti.id)
        receiver.wait(1)  # the phone's app; the laptop only used the console (no back-channel)
        redirected_to_login(laptop.get("/account", follow_redirects=False))
    # "Log out this device": the same end as /logout.
    r = post(
        http, "/account/sessions?lang=en", "/account/sessions/end?lang=en", {"session_id": mine.id}
    )
    assert r.status_code == 200 and "You have signed out" in text_of(r)
    assert not live_sessions(db, siti.id)
    redirected_to_login(http.get("/account", follow_redirects=False))


def test_password_change_ends_other_sessions_and_revokes_refresh_tokens(
    http: TestClient,
    phone: TestClient,
    db: Session,
    rp: tuple[Client, str],
    receiver: Receiver,
    siti: User,
) -> None:
    client, secret = rp
    on_phone = sign_in_to_rp(phone, client.client_id, secret, "siti")
    here = sign_in_to_rp(http, client.client_id, secret, "siti")
    assert console(http, "/account", "siti").status_code == 200
    r = post(
        http,
        "/account/password",
        "/account/password",
        {
            "current_password": PASSWORD,
            "password": NEW,
            "password_confirm": NEW,
        },
    )
    assert r.status_code == 303
    # Every refresh token, the offline ones included, stops working at /token.
    for tokens in (on_phone, here):
        refused = refresh(http, client.client_id, secret, tokens["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    [token] = receiver.wait(1)
    phone_sid = logout_claims(http, token)["sid"]
    assert phone_sid not in {s.id for s in live_sessions(db, siti.id)}
    assert http.get("/account").status_code == 200
    redirected_to_login(phone.get("/account", follow_redirects=False))
    revoked = events(db, "grant.revoked")
    assert {e.details["reason"] for e in revoked} >= {"password_changed"}


def test_revoking_an_app_stops_its_refresh_token(
    http: TestClient, db: Session, rp: tuple[Client, str], siti: User
) -> None:
    client, secret = rp
    tokens = sign_in_to_rp(http, client.client_id, secret, "siti")
    assert refresh(http, client.client_id, secret, tokens["refresh_token"]).status_code == 200
    tokens = sign_in_to_rp(http, client.client_id, secret, "siti")
    apps = text_of(console(http, "/account/apps?lang=en", "siti"))
    assert "Festival Tangsel" in apps and "Keep access to the data above" in apps
    assert apps.count('data-testid="app"') == 1  # the console itself is no app to revoke

    r = post(http, "/account/apps", "/account/apps/revoke", {"client_id": client.client_id})
    assert r.status_code == 303 and r.headers["location"] == "/account/apps?done=revoked"
    refused = refresh(http, client.client_id, secret, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401
    db.rollback()
    assert not db.scalars(select(Consent).where(Consent.user_id == siti.id)).all()
    [revoked] = events(db, "consent.revoked")
    assert revoked.client_id == client.client_id and revoked.details["grants_revoked"] >= 1
    assert "No app has access" in text_of(http.get("/account/apps?lang=en"))
    # The next login asks for consent again.
    page = http.get(authorize_url(client.client_id, RP, "openid profile").url)
    assert 'name="decision"' in page.text


def test_deleting_the_account_logs_it_out_of_every_app(
    http: TestClient,
    phone: TestClient,
    runtime: Runtime,
    db: Session,
    rp: tuple[Client, str],
    receiver: Receiver,
    siti: User,
) -> None:
    client, secret = rp
    sign_in_to_rp(phone, client.client_id, secret, "siti")
    tokens = sign_in_to_rp(http, client.client_id, secret, "siti")
    assert console(http, "/account", "siti").status_code == 200
    r = post(http, "/account/delete", "/account/delete", {"password": PASSWORD, "confirm": "yes"})
    assert r.status_code == 200
    tokens_sent = receiver.wait(2)
    claims = [logout_claims(http, t) for t in tokens_sent]
    assert {c["sub"] for c in claims} == {siti.id}  # the relying party's own identifier
    assert all(c.get("sid") for c in claims)
    db.rollback()
    alias = pseudonym(runtime.settings, siti.id)
    rows = db.scalars(select(BackchannelLogoutDelivery)).all()
    assert rows and {row.user_id for row in rows} == {alias}
    refused = refresh(http, client.client_id, secret, tokens["refresh_token"])
    assert refused.status_code == 400
    userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401
    redirected_to_login(phone.get("/account", follow_redirects=False))
    # The person can no longer log in (the same answer as for an unknown account).
    req = authorize_url(client.client_id, RP, "openid")
    with pytest.raises(AssertionError):
        login(http, req, "siti", PASSWORD)
