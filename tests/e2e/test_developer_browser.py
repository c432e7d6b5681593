"""The developer journey in headless Chromium: a verified citizen registers a web app at
/developers, sees its secret once, waits for approval; once an admin approves it, the app —
run as the page's own Python example, with its real client_id and secret — logs a person in
(authorization code + PKCE, ID token validated with Authlib); the developer rotates the secret
and the old one is refused at /token."""

from __future__ import annotations

import time

import httpx
import pytest

from sso.db.models import Client
from sso.oauth import app_review
from sso.storage import clients as client_repo
from tests.factories import PASSWORD, create_user

pytestmark = pytest.mark.browser
APP = "https://pajak.example.id"
REDIRECT = APP + "/callback"


def capture(page, captured: list[str]) -> None:
    """Stand in for the app's host: record where the browser was sent."""

    def handle(route):
        captured.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>app</p>")

    page.route(APP + "/**", handle)


def wait_for(captured: list[str], page) -> str:
    deadline = time.monotonic() + 15
    while not captured and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert captured, page.content()
    return captured[-1]


def log_in(page, username: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def run_example(code: str, secret: str, monkeypatch) -> dict:
    monkeypatch.setenv("TANGSEL_CLIENT_SECRET", secret)
    namespace: dict = {"__name__": "developer_example"}
    exec(compile(code, "example.py", "exec"), namespace)  # noqa: S102  (the page's own example)
    return namespace


def sign_in_through_app(browser, example: dict) -> dict:
    """A person (Siti, her own browser) signs in to the developer's app."""
    context = browser.new_context(locale="id-ID")
    page = context.new_page()
    captured: list[str] = []
    capture(page, captured)
    url, saved = example["login_url"]()
    page.goto(url)
    if page.locator("input[name=username]").count():
        log_in(page, "siti")
    if page.locator("button[name=decision][value=allow]").count():
        page.click("button[name=decision][value=allow]")
    callback = wait_for(captured, page)
    context.close()
    claims, token = example["callback"](callback, saved)
    return {"claims": dict(claims), "token": token}


def test_a_developer_registers_an_app_that_logs_people_in(
    live_server, page, browser, monkeypatch, tmp_path
):
    rt = live_server.runtime
    with rt.sessions() as db:
        dewi = create_user(rt, db, username="dewi", display_name="Dewi Lestari")
        siti = create_user(rt, db, username="siti", display_name="Siti Rahma")
        dewi_id, siti_id = dewi.id, siti.id

    # The portal asks for a login, then shows an empty list.
    page.goto(f"{live_server.url}/developers")
    log_in(page, "dewi")
    assert page.url == f"{live_server.url}/developers", page.url
    assert page.locator("h1").inner_text() == "Portal pengembang"

    # Register a web app.
    page.click("a[href='/developers/apps/new']")
    page.fill("#name", "Pajak Daerah Online")
    page.fill("#description", "Cek tagihan PBB")
    page.check("input[name=kind][value=web]")
    page.fill("#redirect_uris", REDIRECT)
    page.check("input[name=scopes][value=profile]")
    page.check("input[name=scopes][value=email]")
    page.fill("#client_uri", APP + "/")
    page.screenshot(path=str(tmp_path / "form.png"), full_page=True)
    page.click("main button[type=submit]")  # not the header menu's sign-out
    page.wait_for_load_state()

    # The secret, once.
    client_id = page.locator("#client-id").inner_text()
    secret = page.locator("#client-secret").inner_text()
    assert secret.startswith("tsso_cs_")
    assert "hanya ditampilkan sekali" in page.content()
    page.click("#secret-copied")  # "Saya sudah menyalinnya": the secret page is gone after it
    page.wait_for_load_state()
    assert page.url.endswith(f"/developers/apps/{client_id}")
    assert secret not in page.content()
    assert "Menunggu persetujuan" in page.content()
    assert page.locator("#discovery-url").inner_text() == (
        f"{live_server.url}/.well-known/openid-configuration"
    )
    example_code = page.locator("#example-python").inner_text()
    assert f'CLIENT_ID = "{client_id}"' in example_code

    # Pending: the app logs nobody in yet.
    example = run_example(example_code, secret, monkeypatch)
    url, _ = example["login_url"]()
    assert httpx.get(url).status_code == 400

    # An admin approves it (the admin console calls this service).
    with rt.sessions() as db:
        client = client_repo.get_by_client_id(db, client_id)
        assert isinstance(client, Client) and client.owner_id == dewi_id
        app_review.approve(db, client, dewi_id, "OK")
        db.commit()

    # The page's own example, with the real client_id and secret, logs Siti in.
    result = sign_in_through_app(browser, example)
    assert result["claims"]["sub"] == siti_id and result["claims"]["aud"] == client_id
    assert result["token"]["token_type"].lower() == "bearer"

    # The developer rotates the secret (she logged in minutes ago: no new login needed).
    page.reload()
    page.click("text=Buat secret baru")
    page.wait_for_load_state()
    new_secret = page.locator("#client-secret").inner_text()
    assert new_secret.startswith("tsso_cs_") and new_secret != secret

    # The old secret is refused at /token; the new one works.
    refused = httpx.post(
        f"{live_server.url}/token",
        auth=(client_id, secret),
        data={"grant_type": "refresh_token", "refresh_token": "x"},
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    stale = run_example(example_code, secret, monkeypatch)
    with pytest.raises(Exception, match="invalid_client"):
        sign_in_through_app(browser, stale)
    fresh = run_example(example_code, new_secret, monkeypatch)
    assert sign_in_through_app(browser, fresh)["claims"]["sub"] == siti_id


def test_an_unverified_account_sees_why_it_cannot_register(live_server, page):
    rt = live_server.runtime
    with rt.sessions() as db:
        create_user(rt, db, username="budi")
    page.goto(f"{live_server.url}/developers")
    log_in(page, "budi")
    with rt.sessions() as db:
        from sqlalchemy import update

        from sso.db.models import User

        db.execute(update(User).where(User.username == "budi").values(email_verified=False))
        db.commit()
    response = page.goto(f"{live_server.url}/developers/apps/new?lang=en")
    assert response is not None and response.status == 403
    assert "Verify your email first" in page.content()
