"""The account console's phone verification over HTTP (SQLite and PostgreSQL): the number is
verified only after its code, a wrong code says how many tries are left, "Kirim ulang" by the
other channel replaces the code, and the userinfo ``phone`` claims follow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.clock import FrozenClock
from sso.db.models import OneTimeCode, User
from sso.runtime import Runtime
from tests import phone_gateway
from tests.accounts import mailbox as smtp
from tests.accounts.console import events, post, text_of
from tests.conftest import make_settings
from tests.factories import create_user
from tests.oidc.flow import csrf_of, open_console_page

NUMBER = "+6281311112222"


@pytest.fixture(scope="module")
def gateways() -> Iterator[phone_gateway.Gateways]:
    found, server = phone_gateway.start()
    yield found
    server.shutdown()


@pytest.fixture
def settings(
    backend: str,
    backend_urls: dict[str, str],
    tmp_path: Path,
    mailbox: smtp.Mailbox,
    gateways: phone_gateway.Gateways,
) -> Settings:
    gateways.clear()
    return make_settings(
        backend_urls[backend],
        tmp_path,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_starttls=False,
        **gateways.settings(),
    )


def test_a_number_is_verified_only_by_its_code(
    runtime: Runtime,
    db: Session,
    http: TestClient,
    gateways: phone_gateway.Gateways,
    frozen_clock: FrozenClock,
) -> None:
    user = create_user(runtime, db, username="siti")
    form = open_console_page(http, "/account/phone", "siti")
    assert form.status_code == 200 and 'name="channel"' in form.text
    sent = post(
        http, "/account/phone", "/account/phone", {"phone": "0813-1111-2222", "channel": "sms"}
    )
    assert sent.status_code == 303
    code_page = http.get(sent.headers["location"])
    assert "SMS" in text_of(code_page) and "+62813****2222" in text_of(code_page)
    arrival = gateways.wait_code(NUMBER)
    assert arrival.channel == "sms"
    challenge = re.search(r'name="challenge" value="([^"]+)"', code_page.text)
    assert challenge
    # Not stored until the code is typed.
    db.expire_all()
    assert db.get_one(User, user.id).phone is None

    wrong = f"{(int(arrival.code) + 1) % 1_000_000:06d}"
    refused = http.post(
        "/account/phone/code",
        data={
            "csrf_token": csrf_of(code_page.text),
            "challenge": challenge.group(1),
            "code": wrong,
        },
    )
    assert refused.status_code == 400 and "Sisa percobaan: 4" in text_of(refused)

    # "Kirim ulang lewat WhatsApp": a new code; the SMS one stops working.
    again = http.post(
        "/account/phone/resend",
        data={
            "csrf_token": csrf_of(code_page.text),
            "challenge": challenge.group(1),
            "channel": "whatsapp",
        },
    )
    assert again.status_code == 429 and "detik" in text_of(again)  # within 30 s
    frozen_clock.advance(31)
    again = http.post(
        "/account/phone/resend",
        data={
            "csrf_token": csrf_of(code_page.text),
            "challenge": challenge.group(1),
            "channel": "whatsapp",
        },
    )
    assert again.status_code == 200 and "Kode baru sudah dikirim" in text_of(again)
    second = gateways.wait_code(NUMBER, after=1)
    assert second.channel == "whatsapp"
    if second.code != arrival.code:
        stale = http.post(
            "/account/phone/code",
            data={
                "csrf_token": csrf_of(again.text),
                "challenge": challenge.group(1),
                "code": arrival.code,
            },
        )
        assert stale.status_code == 400
    ok = http.post(
        "/account/phone/code",
        data={
            "csrf_token": csrf_of(again.text),
            "challenge": challenge.group(1),
            "code": second.code,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/account?done=phone"
    db.expire_all()
    stored = db.get_one(User, user.id)
    assert (stored.phone, stored.phone_verified) == (NUMBER, True)
    assert len(events(db, "user.phone_verified")) == 1
    profile = http.get("/account")
    assert NUMBER in profile.text and "Verifikasi nomor" not in text_of(profile)

    # The code works once.
    reused = http.post(
        "/account/phone/code",
        data={
            "csrf_token": csrf_of(again.text),
            "challenge": challenge.group(1),
            "code": second.code,
        },
    )
    assert reused.status_code in (303, 400)
    assert reused.status_code == 303 or "sudah dipakai" in text_of(reused)


def test_a_landline_is_refused_before_anything_is_sent(
    runtime: Runtime,
    db: Session,
    http: TestClient,
    gateways: phone_gateway.Gateways,
) -> None:
    create_user(runtime, db, username="siti")
    open_console_page(http, "/account/phone", "siti")
    refused = post(
        http, "/account/phone", "/account/phone", {"phone": "(021) 555 1234", "channel": "sms"}
    )
    assert refused.status_code == 400 and "nomor ponsel Indonesia" in text_of(refused)
    assert gateways.arrivals == []
    assert db.scalars(select(OneTimeCode)).all() == []
