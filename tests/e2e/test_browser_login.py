"""The whole journey in headless Chromium, with a relying party built on Authlib's OAuth client:
discovery, login with PKCE through real pages, ID token validation, userinfo, refresh,
introspection, revocation and RP-initiated logout."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Browser, Page, Route

from tests.e2e.conftest import LiveServer
from tests.factories import PASSWORD, create_client, create_user

pytestmark = pytest.mark.browser
RP = "https://rp.example.id/callback"
RP_LOGGED_OUT = "https://rp.example.id/bye"


def capture_rp(page: Page, captured: list[str]) -> None:
    """The relying party's host: record where the browser was sent and show a blank page."""

    def handle(route: Route) -> None:
        captured.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>RP</p>")

    page.route("https://rp.example.id/**", handle)
    # Redirects that end a navigation are recorded even if the route is not consulted.
    page.on(
        "request",
        lambda req: (
            captured.append(req.url)
            if req.url.startswith("https://rp.example.id/") and req.url not in captured
            else None
        ),
    )


def goto(page: Page, url: str) -> None:
    """Navigate; a navigation that ends at the (fake) relying party may report a DNS error."""
    from playwright.sync_api import Error

    try:
        page.goto(url)
    except Error as exc:
        if "rp.example.id" not in str(exc) and "ERR_NAME_NOT_RESOLVED" not in str(exc):
            raise


def test_person_logs_in_through_chromium_and_relying_party_uses_every_endpoint(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    rt = live_server.runtime
    with rt.sessions() as db:
        create_user(
            rt,
            db,
            username="budi",
            kind="staff",
            display_name="Budi Santoso",
            nip="198503122010011001",
            position="Pranata Komputer",
        )
        client, secret = create_client(
            rt,
            db,
            name="Portal Satu Data",
            redirect_uris=[RP],
            post_logout_redirect_uris=[RP_LOGGED_OUT],
            scope="openid profile email opd roles offline_access",
        )
    meta = httpx.get(f"{live_server.url}/.well-known/openid-configuration").json()
    assert meta["issuer"] == live_server.url
    jwks = KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())

    rp = OAuth2Client(
        client.client_id,
        secret,
        scope="openid profile email opd offline_access",
        redirect_uri=RP,
        code_challenge_method="S256",
    )
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )

    captured: list[str] = []
    capture_rp(page, captured)
    page.goto(url)
    assert page.locator("html").get_attribute("lang") == "id"
    page.screenshot(path=str(tmp_path / "login.png"))
    page.fill("input[name=username]", "198503122010011001")  # staff log in with their NIP
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    assert page.locator("button[name=decision][value=allow]").count() == 1, page.content()
    page.click("button[name=decision][value=allow]")
    deadline = time.monotonic() + 10
    while not captured and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    callback = captured[-1]
    assert parse_qs(urlsplit(callback).query)["iss"] == [live_server.url]

    token = rp.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
    )
    assert {"access_token", "id_token", "refresh_token", "expires_in"} <= set(token)

    decoded = jwt.decode(token["id_token"], jwks)
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={"iss": {"value": live_server.url}, "nonce": {"value": nonce}},
        params={
            "nonce": nonce,
            "client_id": client.client_id,
            "access_token": token["access_token"],
        },
    )
    claims.validate(leeway=5)
    assert claims["aud"] == client.client_id and claims["amr"] == ["pwd"] and claims["sid"]

    info = httpx.get(
        meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}
    ).json()
    assert info["sub"] == claims["sub"]
    assert info["preferred_username"] == "budi" and info["nip"] == "198503122010011001"
    assert info["opd"]["code"] == "DISKOMINFO"

    refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]

    assert secret is not None
    auth = (client.client_id, secret)
    active = httpx.post(
        meta["introspection_endpoint"], auth=auth, data={"token": refreshed["access_token"]}
    ).json()
    assert active["active"] is True and active["sub"] == claims["sub"]
    assert (
        httpx.post(
            meta["revocation_endpoint"], auth=auth, data={"token": refreshed["refresh_token"]}
        ).status_code
        == 200
    )
    after = httpx.post(
        meta["introspection_endpoint"], auth=auth, data={"token": refreshed["access_token"]}
    ).json()
    assert after == {"active": False}

    # RP-initiated logout from the browser, back to the registered URI with state.
    logout_state = generate_token(12)
    goto(
        page,
        f"{meta['end_session_endpoint']}?id_token_hint={token['id_token']}"
        f"&post_logout_redirect_uri={RP_LOGGED_OUT}&state={logout_state}",
    )
    deadline = time.monotonic() + 10
    while not any(u.startswith(RP_LOGGED_OUT) for u in captured) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    final = [u for u in captured if u.startswith(RP_LOGGED_OUT)][-1]
    assert parse_qs(urlsplit(final).query)["state"] == [logout_state]

    # The browser session is over: prompt=none now answers login_required.
    url2, _ = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=generate_token(48), nonce="n", prompt="none"
    )
    goto(page, url2)
    deadline = time.monotonic() + 10
    while "login_required" not in captured[-1] and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert "error=login_required" in captured[-1]


def test_login_page_in_english_and_without_javascript(
    live_server: LiveServer, browser: Browser
) -> None:
    rt = live_server.runtime
    with rt.sessions() as db:
        create_user(rt, db, username="ani")
        client, _ = create_client(rt, db, redirect_uris=[RP])
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    captured: list[str] = []
    capture_rp(page, captured)
    rp = OAuth2Client(
        client.client_id, scope="openid profile", redirect_uri=RP, code_challenge_method="S256"
    )
    url, _ = rp.create_authorization_url(
        f"{live_server.url}/authorize", code_verifier=generate_token(48)
    )
    page.goto(url)
    assert page.locator("html").get_attribute("lang") == "en"
    page.fill("input[name=username]", "ani")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit], input[type=submit]")
    assert page.locator("[role=alert], .alert, .error").count() >= 1
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.click("button[name=decision][value=allow]")
    deadline = time.monotonic() + 10
    while not captured and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert "code=" in captured[-1]
    context.close()
