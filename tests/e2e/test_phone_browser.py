"""Issue 15's phone journeys in headless Chromium, on SQLite and PostgreSQL: the real provider
and the real hotspot portal (clients/hotspot) on loopback ports, and a real HTTP server playing
the WhatsApp Business Cloud API and the SMS gateway, from which the codes are read.

- a citizen logs in at the hotspot with a WhatsApp code and gets online;
- a new citizen signs up at the hotspot with a mobile number alone (code by SMS) and gets online;
- every refusal: a wrong code (tries left), five wrong codes, an expired code, a reused code,
  and the sending limit per number.

Cheap on purpose: one provider, one portal and one gateway server per backend (module scope),
the session's Chromium, one browser context per journey."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from sso.app import create_app
from sso.db.models import OneTimeCode, User
from sso.web.app_runtime import build_app_runtime
from tests import phone_gateway
from tests.conftest import BACKENDS, POSTGRES_URL, _empty_all_tables, make_settings
from tests.e2e.conftest import free_port

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
for _path in (CLIENTS, CLIENTS / "hotspot"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.clients.conftest import HTTP, PASSWORD, RP, Provider, Server, start_rp  # noqa: E402

pytestmark = pytest.mark.browser

SITI = "+6281234567890"
GATEWAY_TOKEN = "gateway-secret-for-phone-tests"
MAX_SENDS = 4


@dataclass
class World:
    provider: Provider
    hotspot: RP
    gateways: phone_gateway.Gateways


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    backend_urls: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("SSO_TEST_POSTGRES_URL is not set")
    gateways, gateway_server = phone_gateway.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tmp = tmp_path_factory.mktemp("phone")
    settings = make_settings(
        backend_urls[request.param],
        tmp,
        issuer=url,
        phone_code_max_sends_number=MAX_SENDS,
        **gateways.settings(),
    )
    runtime = build_app_runtime(settings)
    _empty_all_tables(runtime)
    server = Server(create_app(settings, runtime), port)
    env = {
        "SSO_ENV": "dev",
        "SSO_DATABASE_URL": settings.database_url,
        "SSO_SECRET_KEY": settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_KEY_ENCRYPTION_KEY": settings.key_encryption_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_ISSUER": url,
        "SSO_VAR_DIR": str(settings.var_dir),
    }
    provider = Provider(url, runtime, env)
    hotspot = start_rp(provider, "hotspot", tmp, gateway_token=GATEWAY_TOKEN)
    from hotspot import service
    from tangsel_rp.db import transaction

    with transaction(hotspot.toolkit.sessions) as db:
        service.add_location(db, "TSL-0001", "Taman Kota 1", 0)
    provider.user("siti", name="Siti Aminah")
    with runtime.sessions() as db:
        db.execute(
            update(User).where(User.username == "siti").values(phone=SITI, phone_verified=True)
        )
        db.commit()
    yield World(provider, hotspot, gateways)
    hotspot.server.stop()
    hotspot.toolkit.engine.dispose()
    server.stop()
    runtime.dispose()
    gateway_server.shutdown()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="id-ID", viewport={"width": 360, "height": 740})
    yield context.new_page()
    context.close()


def decision(w: World, mac: str) -> dict[str, Any]:
    r = HTTP.get(
        f"{w.hotspot.url}/api/gateway/decision",
        params={"mac": mac, "location": "TSL-0001"},
        headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def join(w: World, page: Any, mac: str) -> None:
    page.goto(f"{w.hotspot.url}/?location=TSL-0001&mac={mac}")
    assert "Taman Kota 1" in page.locator("#location").inner_text()


def ask_login_code(w: World, page: Any, mac: str, number: str, channel: str) -> None:
    join(w, page, mac)
    page.click("#portal-login")
    page.click("#code-login")
    page.fill("#identifier", number)
    page.check(f"input[name=channel][value={channel}]")
    page.click("form[action$='/code'] button[type=submit]")
    page.wait_for_selector("#code")


def type_code(page: Any, code: str) -> None:
    page.fill("#code", code)
    page.click("#code-submit")
    page.wait_for_load_state()


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"))


def test_login_with_a_whatsapp_code_and_get_online(world: World, page: Any) -> None:
    w = world
    seen = len(w.gateways.to(SITI))
    ask_login_code(w, page, "AA:BB:CC:10:00:01", "0812 3456 7890", "whatsapp")
    assert "WhatsApp" in page.locator("#code-where").inner_text()
    assert fits(page)
    arrival = w.gateways.wait_code(SITI, after=seen)
    assert arrival.channel == "whatsapp"
    assert arrival.body["template"]["components"][0]["parameters"][0]["text"] == arrival.code
    type_code(page, arrival.code)
    page.wait_for_url(f"{w.hotspot.url}/status*")
    page.click("#connect")
    page.wait_for_selector("#online")
    assert decision(w, "AA:BB:CC:10:00:01")["authorized"] is True


def test_sign_up_with_a_phone_number_alone_at_the_hotspot(world: World, page: Any) -> None:
    w = world
    number = "+6285711223344"
    join(w, page, "AA:BB:CC:10:00:02")
    page.click("#portal-signup")  # prompt=create: the provider's registration page
    page.wait_for_selector("#phone")
    assert fits(page)
    page.fill("#name", "Rahmat Hidayat")
    page.fill("#phone", "0857-1122-3344")
    page.check("input[name=channel][value=sms]")
    page.click("form[action$='/register'] button[type=submit]")
    page.wait_for_selector("#code")
    assert "SMS" in page.locator("#code-where").inner_text()
    arrival = w.gateways.wait_code(number)
    assert arrival.channel == "sms" and arrival.code in arrival.body["text"]
    type_code(page, arrival.code)
    page.wait_for_url(f"{w.hotspot.url}/status*")
    page.click("#connect")
    page.wait_for_selector("#online")
    assert decision(w, "AA:BB:CC:10:00:02")["authorized"] is True
    with w.provider.runtime.sessions() as db:
        user = db.scalars(select(User).where(User.phone == number)).one()
        assert user.phone_verified and user.email is None and user.password is None
        assert user.display_name == "Rahmat Hidayat"


def test_wrong_exhausted_expired_and_reused_codes_are_refused(world: World, page: Any) -> None:
    w = world
    seen = len(w.gateways.to(SITI))
    ask_login_code(w, page, "AA:BB:CC:10:00:03", SITI, "sms")
    code = w.gateways.wait_code(SITI, after=seen).code
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    type_code(page, wrong)
    assert "Sisa percobaan: 4" in page.locator("#code-error").inner_text()
    for _ in range(4):
        type_code(page, wrong)
    assert "Terlalu banyak kode yang salah" in page.locator("#code-error").inner_text()
    type_code(page, code)  # the right one, too late
    assert "Terlalu banyak kode yang salah" in page.locator("#code-error").inner_text()

    # An expired code: its five minutes are over.
    page.goto(page.url.rsplit("/code/", 1)[0] + "/code")
    page.fill("#identifier", SITI)
    page.check("input[name=channel][value=sms]")
    page.click("form[action$='/code'] button[type=submit]")
    page.wait_for_selector("#code")
    code = w.gateways.wait_code(SITI, after=seen + 1).code
    challenge = page.url.rsplit("/", 1)[-1]
    with w.provider.runtime.sessions() as db:
        row = db.get(OneTimeCode, challenge)
        assert row is not None
        db.execute(
            update(OneTimeCode).where(OneTimeCode.id == challenge).values(expires_at=row.sent_at)
        )
        db.commit()
    type_code(page, code)
    assert "kedaluwarsa" in page.locator("#code-error").inner_text()

    # A reused code: the account console's phone check, the same code sent twice.
    console = page.context.new_page()
    console.goto(f"{w.provider.url}/account/phone")
    console.fill("#username", "siti")
    console.fill("#password", PASSWORD)
    console.click("button[type=submit]")
    console.wait_for_selector("#phone")
    console.fill("#phone", "0812 7777 6666")
    console.check("input[name=channel][value=whatsapp]")
    console.click("form[action='/account/phone'] button[type=submit]")
    console.wait_for_selector("#code")
    code = w.gateways.wait_code("+6281277776666").code
    code_url = console.url
    type_code(console, code)
    assert "sudah diverifikasi" in console.locator("[role=status]").inner_text()
    console.goto(code_url)
    type_code(console, code)
    assert "sudah dipakai" in console.locator("#code-error").inner_text()


def test_the_sending_limit_per_number(world: World, page: Any) -> None:
    w = world
    number = "0812 9999 0000"  # no account has it: the same answers, nothing sent
    answers = []
    for i in range(MAX_SENDS + 1):
        join(w, page, f"AA:BB:CC:10:01:0{i}")
        if i == 0:
            page.click("#portal-login")
            page.click("#code-login")
            start = page.url
        page.goto(start)
        page.fill("#identifier", number)
        page.click("form[action$='/code'] button[type=submit]")
        page.wait_for_load_state()
        answers.append("too_many" if page.locator("#code-ask-error").count() else "sent")
    assert answers == ["sent"] * MAX_SENDS + ["too_many"]
    assert "Terlalu banyak permintaan kode" in page.locator("#code-ask-error").inner_text()
    assert w.gateways.to("+6281299990000") == []


def test_an_email_sign_up_at_the_hotspot_gets_a_short_grace(world: World, page: Any) -> None:
    """Email and password instead of a number: back at the portal at once with a grace login
    (acr "0"), online for the grace minutes only, told to open the mail."""
    w = world
    join(w, page, "AA:BB:CC:10:00:05")
    page.click("#portal-signup")
    page.wait_for_selector("#phone")
    page.click("text=Daftar dengan email dan kata sandi")
    page.wait_for_selector("#email")
    page.fill("#name", "Dewi Sartika")
    page.fill("#email", "dewi.sartika@example.id")
    page.fill("#password", "kopi susu gula aren 2024")
    page.fill("#password_confirm", "kopi susu gula aren 2024")
    page.click("form[action='/register'] button[type=submit]")
    page.click("#grace-continue")
    page.wait_for_url(f"{w.hotspot.url}/status*")
    assert "10 menit" in page.locator("#grace").inner_text()
    page.click("#connect")
    page.wait_for_selector("#online")
    state = decision(w, "AA:BB:CC:10:00:05")
    assert state["authorized"] is True and 590 <= state["seconds_left"] <= 600
