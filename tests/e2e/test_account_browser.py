"""The account console in headless Chromium against a live server that sends real SMTP mail:
a citizen registers, verifies the email from the message, logs in, edits the profile, changes
the email (re-verified), adds a NIK, changes the password, ends another device's session,
revokes an app (whose refresh token then fails at /token), downloads the JSON export and deletes
the account; a staff member logs in with the NIP; the console works on a phone-sized screen."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from sso.app import create_app
from sso.web import account_ui
from sso.web.app_runtime import build_app_runtime
from tests.accounts import mailbox as smtp
from tests.conftest import _empty_all_tables, make_settings
from tests.e2e.conftest import LiveServer, free_port
from tests.factories import create_agency, create_client, create_user

pytestmark = pytest.mark.browser
RP = "https://rp.example.id/callback"
PASSWORD = "kopi susu gula aren 2024"
NEW_PASSWORD = "nasi uduk di pagi hari"
NIK = "3674016502900003"


@pytest.fixture
def mailbox() -> Iterator[smtp.Mailbox]:
    box = smtp.Mailbox()
    controller = smtp.start(box)
    yield box
    controller.stop()


@pytest.fixture
def server(backend, backend_urls, tmp_path: Path, mailbox) -> Iterator[LiveServer]:
    """A live provider whose mail goes to the in-process SMTP server."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(
        backend_urls[backend],
        tmp_path,
        issuer=url,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_starttls=False,
    )
    runtime = build_app_runtime(settings)
    _empty_all_tables(runtime)
    app = create_app(settings, runtime)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    yield LiveServer(url, runtime)
    uv.should_exit = True
    thread.join(timeout=10)


def log_in(page, username: str, password: str) -> None:
    """On the login page the console sent the browser to."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def submit(page, action: str) -> None:
    page.click(f"form[action='{action}'] button[type=submit]")
    page.wait_for_load_state()


def main_text(page) -> str:
    return page.inner_text("main")


def app_refresh_token(page, server: LiveServer, client_id: str, secret: str) -> str:
    """The relying party's login in this browser (already logged in: consent only)."""
    captured: list[str] = []

    def handle(route):
        captured.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>RP</p>")

    page.route("https://rp.example.id/**", handle)
    rp = OAuth2Client(
        client_id,
        secret,
        scope="openid profile offline_access",
        redirect_uri=RP,
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    url, state = rp.create_authorization_url(f"{server.url}/authorize", code_verifier=verifier)
    page.goto(url)
    page.click("button[name=decision][value=allow]")
    deadline = time.monotonic() + 10
    while not captured and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    page.unroute("https://rp.example.id/**")
    assert "code=" in captured[-1], captured
    token = rp.fetch_token(
        f"{server.url}/token",
        authorization_response=captured[-1],
        code_verifier=verifier,
        state=state,
    )
    return str(token["refresh_token"])


def refresh_status(server: LiveServer, client_id: str, secret: str, token: str) -> int:
    return httpx.post(
        f"{server.url}/token",
        auth=(client_id, secret),
        data={"grant_type": "refresh_token", "refresh_token": token},
    ).status_code


def test_citizen_account_journey_in_chromium(server, browser, mailbox, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    rt = server.runtime
    with rt.sessions() as db:
        client, secret = create_client(rt, db, name="Festival Tangsel", redirect_uris=[RP])
    assert secret
    context = browser.new_context(locale="id-ID", accept_downloads=True)
    page = context.new_page()

    # Register, then verify from the real message.
    page.goto(f"{server.url}/register")
    page.fill("#name", "Siti Aminah")
    page.fill("#email", "siti@example.id")
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    submit(page, "/register")
    assert "Periksa email Anda" in main_text(page)
    (mail,) = mailbox.wait(1)
    page.goto(mail.link("/register/verify"))
    assert "Email terverifikasi" in main_text(page)
    mailbox.clear()

    # Log in to the console.
    page.goto(f"{server.url}/account")
    log_in(page, "siti@example.id", PASSWORD)
    assert urlsplit(page.url).path == "/account"
    assert "Profil saya" in main_text(page)
    assert page.locator("nav.user-menu a[href='/developers']").count() == 1

    # Profile.
    page.fill("#name", "Siti Aminah Putri")
    page.fill("#phone", "0812 1111 2222")
    submit(page, "/account/profile")
    assert "Profil Anda telah disimpan." in main_text(page)
    assert page.input_value("#phone") == "+6281211112222"

    # Email change, confirmed from the new inbox; the old one is told.
    page.click("a[href='/account/email']")
    page.fill("#email", "siti.baru@example.id")
    submit(page, "/account/email")
    assert "siti.baru@example.id" in main_text(page)
    (mail,) = mailbox.wait(1)
    assert mail.rcpt_tos == ["siti.baru@example.id"]
    page.goto(mail.link("/account/email/confirm"))
    assert "Email telah diganti" in main_text(page)
    assert [m.rcpt_tos for m in mailbox.wait(2)][1] == ["siti@example.id"]

    # NIK: a mistake explained, then saved and shown masked.
    page.goto(f"{server.url}/account/nik")
    page.fill("#nik", "3674019902900003")
    submit(page, "/account/nik")
    assert "tanggal lahir" in main_text(page).lower()
    page.fill("#nik", NIK)
    submit(page, "/account/nik")
    assert "3674**********03" in main_text(page) and NIK not in page.content()

    # Password change.
    page.click("nav.console__menu a[href='/account/password']")
    page.fill("#current_password", PASSWORD)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_confirm", NEW_PASSWORD)
    submit(page, "/account/password")
    assert "Kata sandi Anda telah diganti." in main_text(page)

    # Another device; "log out all other devices" ends it.
    other = browser.new_context(locale="id-ID")
    laptop = other.new_page()
    laptop.goto(f"{server.url}/account")
    log_in(laptop, "siti.baru@example.id", NEW_PASSWORD)
    assert urlsplit(laptop.url).path == "/account"
    page.click("nav.console__menu a[href='/account/sessions']")
    assert page.locator("[data-testid=session]").count() == 2
    submit(page, "/account/sessions/end-others")
    assert "Semua perangkat Anda yang lain telah dikeluarkan." in main_text(page)
    assert page.locator("[data-testid=session]").count() == 1
    laptop.goto(f"{server.url}/account")
    assert laptop.locator("input[name=password]").count() == 1  # back at the login page
    other.close()

    # A connected app, revoked: its refresh token stops working at /token.
    token = app_refresh_token(page, server, client.client_id, secret)
    page.goto(f"{server.url}/account/apps")
    assert "Festival Tangsel" in main_text(page)
    submit(page, "/account/apps/revoke")
    assert "Akses aplikasi telah dicabut." in main_text(page)
    assert refresh_status(server, client.client_id, secret, token) == 400

    # The JSON export, NIK unmasked in the person's own download.
    page.click("nav.console__menu a[href='/account/data']")
    with page.expect_download() as download:
        page.click("a[href='/account/export']")
    data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert data["profile"]["nik"] == NIK and data["profile"]["email"] == "siti.baru@example.id"

    # Delete the account; logging in afterwards fails.
    page.click("a[href='/account/delete']")
    page.fill("#password", NEW_PASSWORD)
    page.check("#confirm")
    submit(page, "/account/delete")
    assert "Akun Anda telah dihapus" in main_text(page)
    page.goto(f"{server.url}/account")
    log_in(page, "siti.baru@example.id", NEW_PASSWORD)
    assert page.locator("input[name=password]").count() == 1
    assert "salah" in main_text(page).lower()
    page.screenshot(path=str(tmp_path / "after-delete.png"))
    context.close()


def test_staff_logs_in_with_the_nip_on_a_phone(server, browser):
    rt = server.runtime
    with rt.sessions() as db:
        agency = create_agency(db, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
        create_user(
            rt,
            db,
            username="budi",
            kind="staff",
            display_name="Budi Santoso",
            nip="198503122010011001",
            agency_code=agency.code,
            password="a long staff passphrase 2024",
        )
    context = browser.new_context(
        locale="id-ID", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(f"{server.url}/account")
    log_in(page, "198503122010011001", "a long staff passphrase 2024")
    body = main_text(page)
    assert "198503122010011001" in body and "Dinas Komunikasi dan Informatika" in body
    # The menu is a row of tabs on a phone, and nothing makes the page scroll sideways.
    assert page.locator("nav.console__menu a").count() == len(account_ui.SECTIONS)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click("nav.console__menu a[href='/account/data']")
    assert "tidak dapat dihapus di sini" in main_text(page)
    # The navigation's logout button ends the session.
    page.click("nav.user-menu summary")
    page.click("nav.user-menu button[type=submit]")
    page.wait_for_load_state()
    assert "Anda telah keluar" in main_text(page)
    page.goto(f"{server.url}/account")
    assert page.locator("input[name=password]").count() == 1
    context.close()
