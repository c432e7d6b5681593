"""Smaller parts of the pages (issue 13): the second factor before deleting an account,
recovery codes to download, print and copy, the device flow's warning, linked field hints."""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.accounts import mfa
from sso.db.models import AuditEvent, User
from sso.runtime import Runtime
from sso.web.i18n import translate
from sso.web.templating import env
from tests.factories import PASSWORD, create_user, enrol_totp
from tests.oidc.flow import csrf_of, open_console_page, totp_code

DOWNLOAD_RE = re.compile(
    r'download="tangsel-sso-recovery-codes.txt"\s+href="data:text/plain;'
    r'charset=utf-8,([^"]+)"'
)


def delete(http: TestClient, **fields: str) -> httpx2.Response:
    token = csrf_of(http.get("/account/delete").text)
    data = {"password": PASSWORD, "confirm": "yes", "csrf_token": token, **fields}
    return http.post("/account/delete", data=data)


def events_named(db: Session, name: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)).all())


def test_deleting_an_account_with_totp_needs_its_code(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    siti = create_user(runtime, db, username="siti")
    user_id = siti.id
    secret = enrol_totp(runtime, db, siti)
    page = open_console_page(http, "/account/delete", "siti", totp_secret=secret)
    assert 'id="code"' in page.text and 'aria-describedby="code-hint"' in page.text
    r = delete(http)  # no code
    assert r.status_code == 400 and "Masukkan kode dari aplikasi autentikator" in r.text
    r = delete(http, code="000000")  # a wrong one
    assert r.status_code == 401 and "Kode salah" in r.text
    assert db.get(User, user_id, populate_existing=True) is not None
    assert len(events_named(db, "mfa.failed")) == 1  # the wrong code (none is no guess)
    r = delete(http, code=totp_code(secret))
    assert r.status_code == 200
    db.rollback()
    assert db.get(User, user_id, populate_existing=True) is None
    assert len(events_named(db, "user.deleted")) == 1


def test_a_recovery_code_also_proves_the_factor_once(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    siti = create_user(runtime, db, username="siti")
    user_id = siti.id
    secret = enrol_totp(runtime, db, siti)
    codes = mfa.new_recovery_codes(db, runtime.settings, user_id, actor_id=user_id)
    db.commit()
    open_console_page(http, "/account/delete", "siti", totp_secret=secret)
    r = delete(http, code=codes[0], password="wrong password")  # the password first
    assert r.status_code == 400
    assert mfa.factors(db, user_id).recovery_codes_left == 10
    r = delete(http, code=codes[0].upper())
    assert r.status_code == 200
    db.rollback()
    assert db.get(User, user_id, populate_existing=True) is None


def test_without_a_second_factor_the_password_is_enough(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    siti = create_user(runtime, db, username="siti")
    user_id = siti.id
    page = open_console_page(http, "/account/delete", "siti")
    assert 'id="code"' not in page.text
    assert delete(http).status_code == 200
    db.rollback()
    assert db.get(User, user_id, populate_existing=True) is None


def test_recovery_codes_can_be_downloaded_printed_and_copied(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    siti = create_user(runtime, db, username="siti")
    secret = enrol_totp(runtime, db, siti)
    page = open_console_page(http, "/account/security", "siti", totp_secret=secret)
    r = http.post("/account/security/recovery-codes", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", r.text)
    assert len(codes) == 10
    download = DOWNLOAD_RE.search(r.text)
    assert download is not None
    text = unquote(download.group(1))
    assert text.startswith("Tangsel SSO: Kode pemulihan\n")
    assert [
        line for line in text.splitlines() if re.fullmatch(r"[a-z0-9]{5}-[a-z0-9]{5}", line)
    ] == codes
    # Print and copy need JavaScript: hidden in the HTML, shown by enhance.js.
    assert re.search(r'<button type="button" [^>]*id="codes-print" data-print hidden>', r.text)
    assert re.search(r'id="codes-copy" data-copy="recovery-codes"', r.text)
    assert "enhance.js" in r.text
    assert 'class="user-menu"' in r.text  # the signed-in header, as on every account page
    script = http.get("/static/enhance.js")
    assert script.status_code == 200 and "window.print()" in script.text


def test_device_page_warns_and_consent_shows_the_user_code(http: TestClient) -> None:
    page = http.get("/device?user_code=BCDF-GHJK")
    assert page.status_code == 200
    assert 'id="device-warning"' in page.text
    assert "Jangan pernah memasukkan kode yang dikirim orang lain" in page.text
    # The consent page of a device request (its context comes from the device flow's route).
    template = env.get_template("consent.html")
    html = template.render(
        _=lambda key, **kw: translate("id", key, **kw),
        locale="id",
        client_name="TV Kantor",
        user_code="BCDF-GHJK",
        scopes=["openid"],
        action="/interaction/x/consent",
        csrf_token="t",
        static_url=lambda name: "/static/" + name,
        lang_switch_url="?lang=en",
    )
    assert '<p class="device-code__value"><code>BCDF-GHJK</code></p>' in html
    assert "Setujui hanya jika Anda sendiri yang memulai masuk ke TV Kantor" in html
    plain = template.render(
        _=lambda key, **kw: translate("id", key, **kw),
        locale="id",
        client_name="Portal",
        scopes=["openid"],
        action="/a",
        csrf_token="t",
        static_url=lambda name: name,
        lang_switch_url="?lang=en",
    )
    assert "device-code" not in plain


def test_hints_are_linked_and_not_marked_as_errors(http: TestClient) -> None:
    page = http.get("/register").text
    assert re.search(r'id="email"[^>]*aria-describedby="email-hint"', page)
    assert "aria-invalid" not in page
    assert '<p class="hint" id="email-hint">' in page
    css = http.get("/static/style.css").text
    assert "input[aria-describedby] {" not in css  # a hint alone is no error
    assert 'input[aria-invalid="true"]' in css
