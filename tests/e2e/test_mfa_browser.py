"""Passkeys in headless Chromium with the DevTools virtual authenticator (CTAP2, built-in,
resident keys, user verification): registration at /account/security, login without a
password, a passkey as the second factor after the password, and a cloned authenticator (its
signature counter going backwards) refused and audited. Then TOTP at login in the browser.

WebAuthn refuses IP addresses as relying party ids, so this provider's issuer is
``http://localhost:<port>`` (a secure context for Chromium, like https)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from sso.app import create_app
from sso.db.models import AuditEvent, Client, WebAuthnCredential
from sso.runtime import Runtime
from sso.web.app_runtime import build_app_runtime
from tests.conftest import _empty_all_tables, make_settings
from tests.e2e.conftest import free_port
from tests.factories import PASSWORD, create_client, create_user, enrol_totp
from tests.oidc.flow import authorize_url, totp_code

pytestmark = pytest.mark.browser
RP = "https://rp.example.id/callback"


@dataclass
class Server:
    url: str
    runtime: Runtime


@pytest.fixture
def server(backend: str, backend_urls: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    url = f"http://localhost:{port}"
    settings = make_settings(backend_urls[backend], tmp_path, issuer=url)
    runtime = build_app_runtime(settings)
    _empty_all_tables(runtime)
    app = create_app(settings, runtime)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    yield Server(url, runtime)
    srv.should_exit = True
    thread.join(timeout=10)
    runtime.dispose()


@dataclass
class Browser:
    page: Any
    cdp: Any
    authenticator: str
    captured: list[str]


@pytest.fixture
def chromium(browser: Any) -> Iterator[Browser]:
    context = browser.new_context(locale="id-ID")
    page = context.new_page()
    captured: list[str] = []

    def handle(route: Any) -> None:
        captured.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>RP</p>")

    page.route("https://rp.example.id/**", handle)
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    yield Browser(page, cdp, added["authenticatorId"], captured)
    context.close()


def events(runtime: Runtime, name: str) -> list[AuditEvent]:
    with runtime.sessions() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)).all())


def rp_code(b: Browser) -> str:
    """The code of the last redirect that reached the relying party."""
    for _ in range(100):
        if b.captured:
            break
        b.page.wait_for_timeout(50)
    assert b.captured, "the browser never reached the relying party"
    query = parse_qs(urlsplit(b.captured[-1]).query)
    assert "code" in query, b.captured[-1]
    return query["code"][0]


def id_token_claims(
    server: Server, client: Client, secret: str, code: str, verifier: str
) -> dict[str, Any]:
    r = httpx.post(
        f"{server.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": verifier,
        },
        auth=(client.client_id, secret),
    )
    assert r.status_code == 200, r.text
    keys = KeySet.import_key_set(httpx.get(f"{server.url}/jwks.json").json())
    claims = dict(jwt.decode(r.json()["id_token"], keys).claims)
    assert claims["iss"] == server.url and claims["aud"] == client.client_id
    return claims


def fill_password(page: Any, username: str) -> None:
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def consent_if_asked(page: Any) -> None:
    page.wait_for_load_state()
    if page.locator("button[name=decision][value=allow]").count():
        page.click("button[name=decision][value=allow]")


def test_passkey_registration_passwordless_login_and_second_factor(
    server: Server, chromium: Browser
) -> None:
    rt = server.runtime
    with rt.sessions() as db:
        siti = create_user(rt, db, username="siti", display_name="Siti Aminah")
        client, secret = create_client(rt, db, redirect_uris=[RP])
    assert secret is not None
    page = chromium.page

    # 1. Register a passkey (the page needs a fresh login: password first).
    page.goto(f"{server.url}/account/security/passkeys/new")
    fill_password(page, "siti")
    page.wait_for_url("**/account/security/passkeys/new")
    page.fill("#passkey-name", "Laptop kantor")
    page.click("#passkey-add")
    page.wait_for_url("**/account/security?done=passkey_added")
    assert "Laptop kantor" in page.content()
    with rt.sessions() as db:
        [stored] = db.scalars(select(WebAuthnCredential)).all()
        assert stored.user_id == siti.id and stored.discoverable
    assert len(events(rt, "mfa.passkey_added")) == 1

    # 2. Log in to a relying party without a password ("Masuk dengan passkey").
    page.context.clear_cookies()
    req = authorize_url(client.client_id, RP)
    page.goto(server.url + req.url)
    page.click("#passkey-login")
    page.wait_for_selector("button[name=decision]")
    consent_if_asked(page)
    claims = id_token_claims(server, client, secret, rp_code(chromium), req.verifier)
    assert claims["sub"] == siti.id
    assert claims["acr"] == "2"
    assert claims["amr"] == ["hwk", "user", "mfa"]

    # 3. With a passkey registered, a password login asks for it as the second factor.
    page.context.clear_cookies()
    chromium.captured.clear()
    req = authorize_url(client.client_id, RP)
    page.goto(server.url + req.url)
    fill_password(page, "siti")
    page.wait_for_selector("#passkey-button")
    assert page.locator("#totp-form").count() == 0  # no TOTP enrolled: only the passkey
    page.click("#passkey-button")
    claims = id_token_claims(server, client, secret, rp_code(chromium), req.verifier)
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "hwk", "mfa"]
    verified = events(rt, "mfa.verified")
    assert [e.details["method"] for e in verified] == ["passkey"]


def test_a_cloned_passkey_whose_counter_goes_back_is_refused_and_audited(
    server: Server, chromium: Browser
) -> None:
    rt = server.runtime
    with rt.sessions() as db:
        create_user(rt, db, username="siti")
        client, _ = create_client(rt, db, redirect_uris=[RP])
    page = chromium.page
    page.goto(f"{server.url}/account/security/passkeys/new")
    fill_password(page, "siti")
    page.wait_for_url("**/account/security/passkeys/new")
    page.click("#passkey-add")
    page.wait_for_url("**/account/security?done=passkey_added")
    # Use it once so the stored counter is above zero.
    page.context.clear_cookies()
    page.goto(server.url + authorize_url(client.client_id, RP).url)
    page.click("#passkey-login")
    page.wait_for_selector("button[name=decision]")
    with rt.sessions() as db:
        stored_count = db.scalars(select(WebAuthnCredential.sign_count)).one()
    assert stored_count > 0
    # A copy of the key with an older counter (as a cloned authenticator would have).
    [cred] = chromium.cdp.send(
        "WebAuthn.getCredentials", {"authenticatorId": chromium.authenticator}
    )["credentials"]
    chromium.cdp.send(
        "WebAuthn.removeCredential",
        {"authenticatorId": chromium.authenticator, "credentialId": cred["credentialId"]},
    )
    chromium.cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": chromium.authenticator,
            "credential": {**cred, "signCount": 0},
        },
    )
    page.context.clear_cookies()
    page.goto(server.url + authorize_url(client.client_id, RP).url)
    page.click("#passkey-login")
    alert = page.locator("[data-webauthn-error]")
    alert.wait_for(state="visible")
    assert "penghitungnya tidak wajar" in alert.inner_text()
    assert "sso_session" not in {c["name"] for c in page.context.cookies()}
    [event] = events(rt, "mfa.passkey_counter_regressed")
    assert event.outcome == "failure" and event.details["stored_count"] == stored_count


def test_totp_enrolment_and_login_in_the_browser(server: Server, chromium: Browser) -> None:
    rt = server.runtime
    with rt.sessions() as db:
        budi = create_user(rt, db, username="budi", kind="staff")
        client, secret = create_client(rt, db, redirect_uris=[RP])
        totp_secret = enrol_totp(rt, db, budi)
    assert secret is not None
    page = chromium.page
    req = authorize_url(client.client_id, RP, acr_values="2")
    page.goto(server.url + req.url)
    fill_password(page, "budi")
    page.wait_for_selector("#totp-form")
    page.fill("#code", "000000" if totp_code(totp_secret) != "000000" else "111111")
    page.click("#totp-form button[type=submit]")
    assert "Kode salah" in page.locator("#mfa-error").inner_text()
    page.fill("#code", totp_code(totp_secret))
    page.click("#totp-form button[type=submit]")
    consent_if_asked(page)
    claims = id_token_claims(server, client, secret, rp_code(chromium), req.verifier)
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp", "mfa"]
