"""The Device Authorization Grant (RFC 8628) over HTTP: a TV asks for codes and polls /token
while the person types the user code on a phone, logs in and consents there."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from sso.core.clock import FrozenClock, set_clock
from sso.db.models import (
    AuditEvent,
    Client,
    DeviceAuthorization,
    Grant,
    LoginSession,
    User,
)
from sso.web.app_runtime import AppRuntime
from sso.web.routes import device as device_routes
from tests.factories import PASSWORD, create_client
from tests.oauth.helpers import ISSUER, Env, verify_id_token
from tests.oidc.flow import csrf_of

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_RE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


@pytest.fixture
def app(runtime: AppRuntime) -> FastAPI:
    """The provider, with the device router even before sso.app lists it."""
    from sso.app import create_app

    application = create_app(runtime.settings, runtime)
    paths = {getattr(route, "path", None) for route in application.routes}
    if "/device_authorization" not in paths:
        application.include_router(device_routes.router)
    return application


@pytest.fixture
def phone(app: FastAPI) -> Iterator[TestClient]:
    """The person's browser: another cookie jar than the device's."""
    with TestClient(app, base_url=ISSUER) as browser:
        yield browser


@pytest.fixture
def env(runtime: AppRuntime, http: TestClient) -> Env:
    return Env(runtime, http, runtime.keys)


@pytest.fixture
def tv(runtime: AppRuntime, db: Session) -> Client:
    """A public device client (no browser, no redirect URI) that may keep a refresh token."""
    client, secret = create_client(
        runtime,
        db,
        name="Hotspot TV",
        public=True,
        redirect_uris=[],
        grant_types=[DEVICE_GRANT, "refresh_token"],
        scope="openid profile offline_access",
    )
    assert secret is None
    return client


@pytest.fixture
def kiosk(runtime: AppRuntime, db: Session) -> tuple[Client, str]:
    """A confidential device client (client_secret_basic)."""
    client, secret = create_client(
        runtime,
        db,
        name="Kiosk Perpustakaan",
        redirect_uris=[],
        grant_types=[DEVICE_GRANT],
        scope="openid profile email",
    )
    assert secret is not None
    return client, secret


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock()
    previous = set_clock(frozen)
    yield frozen
    set_clock(previous)


# ---------------------------------------------------------------------------- helpers


def start(
    http: TestClient, client: Client, secret: str | None = None, scope: str = "openid profile"
) -> Any:
    data = {"scope": scope}
    if secret is None:
        data["client_id"] = client.client_id
        return http.post("/device_authorization", data=data)
    return http.post("/device_authorization", data=data, auth=(client.client_id, secret))


def started(
    http: TestClient, client: Client, secret: str | None = None, scope: str = "openid profile"
) -> dict[str, Any]:
    r = start(http, client, secret, scope)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def poll(http: TestClient, device_code: str, client: Client, secret: str | None = None) -> Any:
    data = {"grant_type": DEVICE_GRANT, "device_code": device_code}
    if secret is None:
        data["client_id"] = client.client_id
        return http.post("/token", data=data)
    return http.post("/token", data=data, auth=(client.client_id, secret))


def assert_error(r: Any, error: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error
    assert r.headers["cache-control"] == "no-store"


def enter_code(phone: TestClient, user_code: str) -> Any:
    """Open /device, type the code, submit; returns the (unfollowed) answer."""
    page = phone.get("/device")
    assert page.status_code == 200
    return phone.post(
        "/device",
        data={"user_code": user_code, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def approve(
    phone: TestClient, user_code: str, *, username: str = "siti", decision: str | None = "allow"
) -> Any:
    """Type the code, log in if asked, answer the consent page if shown; returns the final page."""
    r = enter_code(phone, user_code)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    if location.startswith("/interaction/"):
        interaction = location
        page = phone.get(interaction)
        if 'name="password"' in page.text:
            r = phone.post(
                f"{interaction}/login",
                data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            page = phone.get(interaction, follow_redirects=False)
        if 'name="decision"' in page.text:
            assert decision is not None, "unexpected consent page"
            page = phone.post(
                f"{interaction}/consent",
                data={"decision": decision, "csrf_token": csrf_of(page.text)},
                follow_redirects=False,
            )
        assert page.status_code == 303, page.text
        location = page.headers["location"]
    assert location.startswith(f"{ISSUER}/device/done"), location
    return phone.get(location)


def events(env: Env, name: str) -> list[AuditEvent]:
    return env.events(name)


# ---------------------------------------------------------------------------- §3.1–3.2


def test_device_authorization_response(env: Env, tv: Client) -> None:
    r = start(env.http, tv)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert body["device_code"].startswith("tsso_dc_")
    assert USER_CODE_RE.match(body["user_code"]), body["user_code"]
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == f"{ISSUER}/device?user_code={body['user_code']}"
    assert (body["expires_in"], body["interval"]) == (600, 5)
    with env.session() as s:
        row = s.scalars(select(DeviceAuthorization)).one()
        stored = json.dumps([str(v) for v in vars(row).values()])
        assert body["device_code"] not in stored and body["user_code"] not in stored
        assert body["user_code"].replace("-", "") not in stored
        assert (row.status, row.scope, row.client_id) == ("pending", "openid profile", tv.client_id)
    assert [e.client_id for e in events(env, "device_code.issued")] == [tv.client_id]


def test_scope_is_narrowed_to_the_registered_scopes(env: Env, tv: Client) -> None:
    started(env.http, tv, scope="openid nik profile datasets:write")
    with env.session() as s:
        assert s.scalars(select(DeviceAuthorization.scope)).one() == "openid profile"
    assert_error(start(env.http, tv, scope="nik datasets:write"), "invalid_scope")
    r = env.http.post("/device_authorization", data={"client_id": tv.client_id})
    assert_error(r, "invalid_scope")


def test_client_authentication_and_grant_type(
    env: Env, runtime: AppRuntime, db: Session, tv: Client, kiosk: tuple[Client, str]
) -> None:
    client, secret = kiosk
    started(env.http, client, secret)
    # A confidential client cannot pass itself off as public.
    r = env.http.post(
        "/device_authorization", data={"client_id": client.client_id, "scope": "openid"}
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = env.http.post(
        "/device_authorization", data={"scope": "openid"}, auth=(client.client_id, "wrong")
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # Registered without the device grant type: unauthorized_client, at both endpoints.
    web_app, web_secret = create_client(runtime, db, name="Portal", public=False)
    assert web_secret is not None
    assert_error(start(env.http, web_app, web_secret), "unauthorized_client")
    code = started(env.http, tv)["device_code"]
    assert_error(poll(env.http, code, web_app, web_secret), "unauthorized_client")


# ---------------------------------------------------------------------------- polling


def test_pending_then_slow_down_and_the_interval_grows(
    env: Env, tv: Client, clock: FrozenClock
) -> None:
    code = started(env.http, tv)["device_code"]

    def interval() -> int:
        with env.session() as s:
            return s.scalars(select(DeviceAuthorization.interval)).one()

    assert_error(poll(env.http, code, tv), "authorization_pending")
    assert interval() == 5
    clock.advance(1)
    assert_error(poll(env.http, code, tv), "slow_down")
    assert interval() == 10
    clock.advance(6)  # still sooner than the new 10 s
    assert_error(poll(env.http, code, tv), "slow_down")
    assert interval() == 15
    clock.advance(15)
    assert_error(poll(env.http, code, tv), "authorization_pending")
    assert interval() == 15
    # Polling answers are not refusals: no audit row for each poll.
    assert events(env, "token.refused") == []


def test_device_flow_end_to_end(env: Env, phone: TestClient, tv: Client, siti: User) -> None:
    body = started(env.http, tv, scope="openid profile offline_access")
    code, user_code = body["device_code"], body["user_code"]
    assert_error(poll(env.http, code, tv), "authorization_pending")

    # On the phone: lower case, no dash.
    r = enter_code(phone, user_code.replace("-", "").lower())
    assert r.status_code == 303 and r.headers["location"].startswith("/interaction/")
    login_page = phone.get(r.headers["location"])
    assert 'name="password"' in login_page.text and "Hotspot TV" in login_page.text
    done = approve(phone, user_code)
    assert done.status_code == 200
    assert "Perangkat terhubung" in done.text  # Bahasa Indonesia by default

    r = poll(env.http, code, tv)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    token = r.json()
    assert token["token_type"] == "Bearer" and token["scope"] == "openid profile offline_access"
    assert token["refresh_token"].startswith("tsso_rt_")

    at = jwt.decode(token["access_token"], env.jwks(), algorithms=["RS256"])
    assert at.header["typ"] == "at+jwt"
    assert at.claims["sub"] == siti.id and at.claims["aud"] == tv.client_id
    assert at.claims["iss"] == ISSUER and "auth_time" in at.claims

    claims = verify_id_token(
        env,
        token["id_token"],
        client_id=tv.client_id,
        nonce=None,
        access_token=token["access_token"],
    )
    with env.session() as s:
        login = s.scalars(select(LoginSession).where(LoginSession.user_id == siti.id)).one()
        row = s.scalars(select(DeviceAuthorization)).one()
        assert row.status == "consumed" and row.user_id == siti.id
        assert row.login_session_id == login.id and row.grant_id is not None
        grant_id = row.grant_id
    assert claims["sub"] == siti.id and claims["sid"] == login.id
    assert claims["amr"] == ["pwd"] and claims["acr"] == "1"
    assert [e.target_id for e in events(env, "token.issued")] == [grant_id]

    # The refresh token works like any other.
    r = env.http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": tv.client_id,
            "refresh_token": token["refresh_token"],
        },
    )
    assert r.status_code == 200, r.text

    # Polling again after success: invalid_grant, and the replay revokes the grant.
    assert_error(poll(env.http, code, tv), "invalid_grant")
    with env.session() as s:
        grant = s.get(Grant, grant_id)
        assert grant is not None and grant.revoked_at is not None
    assert [e.target_id for e in events(env, "device_code.reused")] == [grant_id]


def test_confidential_client_single_sign_on_and_remembered_consent(
    env: Env, phone: TestClient, kiosk: tuple[Client, str], siti: User
) -> None:
    client, secret = kiosk
    first = started(env.http, client, secret)
    approve(phone, first["user_code"])
    oauth = OAuth2Client(
        client.client_id,
        secret,
        token_endpoint_auth_method="client_secret_basic",
        transport=env.http._transport,
        base_url=ISSUER,
    )
    token = oauth.fetch_token(
        f"{ISSUER}/token", grant_type=DEVICE_GRANT, device_code=first["device_code"]
    )
    assert "refresh_token" not in token  # not registered for refresh_token
    verify_id_token(
        env,
        token["id_token"],
        client_id=client.client_id,
        nonce=None,
        access_token=token["access_token"],
    )

    # Same phone, still logged in, consent remembered: no password, but the person still
    # confirms the device (RFC 8628 §5.4: a user code may come from a phisher).
    second = started(env.http, client, secret)
    r = enter_code(phone, second["user_code"])
    assert r.status_code == 303 and r.headers["location"].startswith("/interaction/")
    page = phone.get(r.headers["location"])
    assert 'name="password"' not in page.text and 'name="decision"' in page.text
    assert_error(poll(env.http, second["device_code"], client, secret), "authorization_pending")
    approve(phone, second["user_code"])
    r = poll(env.http, second["device_code"], client, secret)
    assert r.status_code == 200, r.text
    assert len(events(env, "user.login")) == 1


def test_trusted_client_still_asks_to_confirm_the_device(
    env: Env, phone: TestClient, runtime: AppRuntime, db: Session, siti: User
) -> None:
    client, _ = create_client(
        runtime,
        db,
        name="Kios Resmi",
        public=True,
        redirect_uris=[],
        grant_types=[DEVICE_GRANT],
        scope="openid profile",
        trusted=True,
    )
    body = started(env.http, client)
    try:
        approve(phone, body["user_code"], decision=None)
    except AssertionError as exc:
        assert "unexpected consent page" in str(exc)
    else:
        raise AssertionError("a trusted client's device was connected without a confirmation")
    second = started(env.http, client)
    assert approve(phone, second["user_code"]).status_code == 200
    assert poll(env.http, second["device_code"], client).status_code == 200


def test_denial_is_access_denied(env: Env, phone: TestClient, tv: Client, siti: User) -> None:
    body = started(env.http, tv)
    done = approve(phone, body["user_code"], decision="deny")
    assert "Permintaan ditolak" in done.text
    assert_error(poll(env.http, body["device_code"], tv), "access_denied")
    assert_error(poll(env.http, body["device_code"], tv), "access_denied")
    assert [e.client_id for e in events(env, "device_code.denied")] == [tv.client_id]
    assert events(env, "token.issued") == []


def test_expiry(env: Env, phone: TestClient, tv: Client, siti: User, clock: FrozenClock) -> None:
    body = started(env.http, tv)
    clock.advance(601)
    assert_error(poll(env.http, body["device_code"], tv), "expired_token")
    r = enter_code(phone, body["user_code"])
    assert r.status_code == 400 and "sudah kedaluwarsa" in r.text


def test_code_expiring_during_login_shows_why(
    env: Env, phone: TestClient, tv: Client, siti: User, clock: FrozenClock
) -> None:
    body = started(env.http, tv)
    r = enter_code(phone, body["user_code"])
    assert r.headers["location"].startswith("/interaction/")
    clock.advance(601)  # the interaction (15 min) outlives the device code (10 min)
    interaction = r.headers["location"]
    page = phone.get(interaction)
    r = phone.post(
        f"{interaction}/login",
        data={"username": "siti", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = phone.get(interaction, follow_redirects=False)
    page = phone.post(
        f"{interaction}/consent",
        data={"decision": "allow", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert page.status_code == 303
    assert page.headers["location"].startswith(f"{ISSUER}/device/done?error=expired_token")
    done = phone.get(page.headers["location"])
    assert "Kode tidak berlaku" in done.text
    assert_error(poll(env.http, body["device_code"], tv), "expired_token")
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(Grant)) == 0


def test_device_code_of_another_client(
    env: Env, phone: TestClient, tv: Client, kiosk: tuple[Client, str], siti: User
) -> None:
    body = started(env.http, tv)
    approve(phone, body["user_code"])
    client, secret = kiosk
    assert_error(poll(env.http, body["device_code"], client, secret), "invalid_grant")
    assert_error(poll(env.http, "tsso_dc_not-a-real-code", tv), "invalid_grant")
    r = env.http.post("/token", data={"grant_type": DEVICE_GRANT, "client_id": tv.client_id})
    assert_error(r, "invalid_request")
    # The rightful device still gets its tokens.
    assert poll(env.http, body["device_code"], tv).status_code == 200


# ---------------------------------------------------------------------------- the pages


def test_device_page_prefilled_from_the_complete_uri(
    phone: TestClient, env: Env, tv: Client
) -> None:
    body = started(env.http, tv)
    page = phone.get(body["verification_uri_complete"].removeprefix(ISSUER))
    assert page.status_code == 200
    assert f'value="{body["user_code"]}"' in page.text
    assert "sama persis dengan kode di layar perangkat" in page.text
    assert page.headers["cache-control"] == "no-store"
    english = phone.get("/device?user_code=bcdfghjk&lang=en")
    assert 'value="BCDF-GHJK"' in english.text and "Connect a device" in english.text


def test_unknown_user_code_is_a_readable_page(phone: TestClient) -> None:
    r = enter_code(phone, "BCDF-GHJK")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
    assert "Kode tidak dikenal" in r.text and 'value="BCDF-GHJK"' in r.text
    page = phone.get("/device?lang=en")
    r = phone.post("/device", data={"user_code": "hello?", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 400 and "This code is unknown" in r.text


def test_user_code_form_needs_csrf(phone: TestClient, env: Env, tv: Client) -> None:
    body = started(env.http, tv)
    phone.get("/device")
    r = phone.post("/device", data={"user_code": body["user_code"]}, follow_redirects=False)
    assert r.status_code == 403
    r = phone.post(
        "/device",
        data={"user_code": body["user_code"], "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    with env.session() as s:
        assert s.scalars(select(DeviceAuthorization.status)).one() == "pending"


def test_done_page_in_both_languages(phone: TestClient) -> None:
    assert "Perangkat terhubung" in phone.get("/device/done").text
    assert "Device connected" in phone.get("/device/done?lang=en").text
    assert "Request declined" in phone.get("/device/done?error=access_denied&lang=en").text


# ---------------------------------------------------------------------------- discovery, CLI


def test_discovery_advertises_the_endpoint_and_it_works(http: TestClient, tv: Client) -> None:
    oidc = http.get("/.well-known/openid-configuration").json()
    oauth = http.get("/.well-known/oauth-authorization-server").json()
    for doc in (oidc, oauth):
        assert doc["device_authorization_endpoint"] == f"{ISSUER}/device_authorization"
        assert DEVICE_GRANT in doc["grant_types_supported"]
    path = oidc["device_authorization_endpoint"].removeprefix(ISSUER)
    r = http.post(path, data={"client_id": tv.client_id, "scope": "openid"})
    assert r.status_code == 200, r.text


def test_cli_registers_a_device_only_public_client(runtime: AppRuntime, db: Session) -> None:
    from sso.cli import app as cli

    s = runtime.settings
    env = {
        "SSO_ENV": "test",
        "SSO_DATABASE_URL": s.database_url,
        "SSO_SECRET_KEY": s.secret_key.get_secret_value(),
        "SSO_KEY_ENCRYPTION_KEY": s.key_encryption_key.get_secret_value(),
        "SSO_ISSUER": s.issuer,
        "SSO_VAR_DIR": str(s.var_dir),
    }
    r = CliRunner().invoke(
        cli,
        [
            "clients",
            "create",
            "--name",
            "Smart TV",
            "--public",
            "--grant-type",
            DEVICE_GRANT,
            "--scope",
            "openid profile",
            "--json",
        ],
        env=env,
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    created = json.loads(r.stdout)
    assert created["client_secret"] is None
    row = db.scalars(select(Client).where(Client.client_id == created["client_id"])).one()
    assert row.grant_types == [DEVICE_GRANT] and row.redirect_uris == []
    assert row.token_endpoint_auth_method == "none"


def test_consent_shows_the_user_code_and_the_warning(
    env: Env, phone: TestClient, tv: Client, siti: User
) -> None:
    """RFC 8628 §5.4: the confirmation names the code typed (as the device shows it) and warns
    to approve only a device the person started; the code is not written to the audit log."""
    body = started(env.http, tv)
    user_code = body["user_code"]
    r = enter_code(phone, user_code.replace("-", " ").lower())  # typed loosely
    interaction = r.headers["location"]
    page = phone.get(interaction)
    phone.post(
        f"{interaction}/login",
        data={"username": "siti", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    consent = phone.get(interaction)
    assert 'name="decision"' in consent.text
    assert 'id="device-code"' in consent.text and f"<code>{user_code}</code>" in consent.text
    assert "Kode di layar perangkat" in consent.text
    assert 'id="device-warning"' in consent.text and "Hotspot TV" in consent.text
    english = phone.get(interaction + "?lang=en")
    assert "Code on the device screen" in english.text and user_code in english.text
    with env.session() as s:
        logged = json.dumps([e.details for e in s.scalars(select(AuditEvent)).all()], default=str)
    assert user_code not in logged and user_code.replace("-", "") not in logged
