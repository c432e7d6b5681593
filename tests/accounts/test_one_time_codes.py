"""One-time codes and the services built on them, on SQLite and PostgreSQL: the code's rules
(6 digits, 5 minutes, single use, 5 attempts, stored hashed), the senders talking HTTP to a
real server that plays WhatsApp and the SMS gateway (fallback included), the sending limits,
and passwordless login, registration and phone verification."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from sso.accounts import code_delivery, code_requests, code_senders, otp, passwordless
from sso.accounts import phone as phones
from sso.accounts.mail import Mailer
from sso.accounts.throttle import Throttle
from sso.config import Settings
from sso.core.clock import FrozenClock
from sso.core.errors import InvalidInput
from sso.db.models import AuditEvent, OneTimeCode, User
from sso.db.models.one_time_codes import LOGIN
from sso.runtime import Runtime
from tests import phone_gateway
from tests.accounts import mailbox as smtp
from tests.conftest import make_settings
from tests.factories import create_user

NUMBER = "+6281234567890"


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


@pytest.fixture
def guard(runtime: Runtime) -> Throttle:
    return Throttle(runtime.settings, runtime.sessions)


def send(runtime: Runtime, guard: Throttle, request: code_requests.CodeRequest) -> str | None:
    assert request.outgoing is not None
    return code_delivery.send(runtime.settings, guard, Mailer(runtime.settings), request.outgoing)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0812-3456-7890", NUMBER),
        ("812 3456 7890", NUMBER),
        ("62 812 3456 7890", NUMBER),
        ("+62 (812) 3456-7890", NUMBER),
        ("0044 7911 123456", "+447911123456"),
    ],
)
def test_numbers_are_read_the_indonesian_way_and_stored_in_e164(raw: str, e164: str) -> None:
    assert phones.normalize(raw) == e164


@pytest.mark.parametrize("raw", ["", "12345", "0812", "+62 000 0000", "abc", "0" * 41])
def test_what_is_not_a_number_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        phones.normalize(raw)


def test_codes_go_only_to_mobile_numbers_of_allowed_countries() -> None:
    allowed = frozenset({"ID"})
    assert phones.sendable(NUMBER, allowed)
    assert not phones.sendable("+62215551234", allowed)  # a Jakarta landline
    assert not phones.sendable("+447911123456", allowed)  # a British mobile
    assert phones.sendable("+447911123456", frozenset())


def test_a_code_is_six_digits_stored_only_as_a_keyed_hash(runtime: Runtime) -> None:
    with runtime.sessions() as db:
        issued = otp.issue(
            db, runtime.settings, purpose=LOGIN, channel="sms", destination=NUMBER, user_id=None
        )
        db.commit()
        row = db.get(OneTimeCode, issued.challenge_id)
        assert row is not None and issued.code is not None
        assert len(issued.code) == 6 and issued.code.isdigit()
        assert issued.code not in (row.code_hash or "")
        assert row.code_hash == otp.code_hash(runtime.settings, row.id, issued.code)
        assert (row.expires_at - row.sent_at).total_seconds() == 300


def test_the_right_code_works_once(runtime: Runtime) -> None:
    with runtime.sessions() as db:
        issued = otp.issue(
            db, runtime.settings, purpose=LOGIN, channel="sms", destination=NUMBER, user_id=None
        )
        db.commit()
        assert issued.code is not None
        assert otp.verify(db, runtime.settings, issued.challenge_id, issued.code, LOGIN).ok
        db.commit()
        again = otp.verify(db, runtime.settings, issued.challenge_id, issued.code, LOGIN)
        assert again.status == "used"
        wrong_purpose = otp.issue(
            db,
            runtime.settings,
            purpose="register",
            channel="sms",
            destination=NUMBER,
            user_id=None,
        )
        assert (
            otp.verify(
                db, runtime.settings, wrong_purpose.challenge_id, wrong_purpose.code or "", LOGIN
            ).status
            == "expired"
        )


def test_five_wrong_codes_end_the_challenge(runtime: Runtime) -> None:
    with runtime.sessions() as db:
        issued = otp.issue(
            db, runtime.settings, purpose=LOGIN, channel="sms", destination=NUMBER, user_id=None
        )
        db.commit()
        assert issued.code is not None
        wrong = f"{(int(issued.code) + 1) % 1_000_000:06d}"
        assert (
            otp.verify(db, runtime.settings, issued.challenge_id, "12a", LOGIN).status
            == "malformed"
        )
        lefts = [
            otp.verify(db, runtime.settings, issued.challenge_id, wrong, LOGIN) for _ in range(5)
        ]
        db.commit()
        assert [c.attempts_left for c in lefts] == [4, 3, 2, 1, 0]
        assert lefts[-1].status == "exhausted"
        late = otp.verify(db, runtime.settings, issued.challenge_id, issued.code, LOGIN)
        assert late.status == "exhausted"


def test_a_code_expires_after_five_minutes(runtime: Runtime, frozen_clock: FrozenClock) -> None:
    with runtime.sessions() as db:
        issued = otp.issue(
            db, runtime.settings, purpose=LOGIN, channel="sms", destination=NUMBER, user_id=None
        )
        db.commit()
        frozen_clock.advance(301)
        check = otp.verify(db, runtime.settings, issued.challenge_id, issued.code or "", LOGIN)
        assert check.status == "expired"


def test_whatsapp_sends_the_cloud_api_template_message(
    runtime: Runtime,
    guard: Throttle,
    gateways: phone_gateway.Gateways,
) -> None:
    with runtime.sessions() as db:
        create_user(runtime, db, username="siti", phone=NUMBER)
        db.execute(User.__table__.update().values(phone_verified=True))
        db.commit()
        request = passwordless.start_login(
            db,
            runtime.settings,
            guard,
            "0812 3456 7890",
            channel="whatsapp",
            locale="id",
            ip="10.0.0.1",
        )
        db.commit()
    assert send(runtime, guard, request) == "whatsapp"
    arrival = gateways.wait_code(NUMBER)
    assert arrival.channel == "whatsapp"
    assert arrival.path == f"/v21.0/{phone_gateway.PHONE_NUMBER_ID}/messages"
    assert arrival.headers["Authorization"] == f"Bearer {phone_gateway.WHATSAPP_TOKEN}"
    assert arrival.body["messaging_product"] == "whatsapp"
    assert arrival.body["type"] == "template"
    assert arrival.body["template"]["name"] == "kode_verifikasi"
    assert arrival.body["template"]["language"] == {"code": "id"}
    with runtime.sessions() as db:
        check, user = passwordless.finish_login(
            db, runtime.settings, request.issued.challenge_id, arrival.code
        )
        db.commit()
        assert check.ok and user is not None and user.username == "siti"


def test_sms_takes_over_when_whatsapp_refuses(
    runtime: Runtime,
    guard: Throttle,
    gateways: phone_gateway.Gateways,
) -> None:
    gateways.status["whatsapp"] = 500
    message = code_senders.PhoneMessage(NUMBER, "123456", "id", 5)
    assert code_senders.deliver(runtime.settings, message) == "sms"
    (arrival,) = gateways.to(NUMBER)
    assert arrival.channel == "sms"
    assert arrival.headers["X-Api-Key"] == phone_gateway.SMS_KEY
    assert arrival.body["sender"] == "TANGSEL"
    assert arrival.body["destination"] == NUMBER
    assert "123456" in arrival.body["text"] and "5 menit" in arrival.body["text"]
    gateways.status["sms"] = 503
    assert code_senders.deliver(runtime.settings, message) is None


def test_codes_and_tokens_stay_out_of_the_log(
    runtime: Runtime,
    gateways: phone_gateway.Gateways,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateways.status["whatsapp"] = 500
    message = code_senders.PhoneMessage(NUMBER, "246813", "id", 5)
    with caplog.at_level("DEBUG"):
        code_senders.deliver(runtime.settings, message)
    text = caplog.text
    assert "246813" not in text and phone_gateway.WHATSAPP_TOKEN not in text
    assert phone_gateway.SMS_KEY not in text and NUMBER not in text


def test_unknown_and_known_numbers_get_the_same_answer(
    runtime: Runtime,
    guard: Throttle,
) -> None:
    with runtime.sessions() as db:
        create_user(runtime, db, username="siti", phone=NUMBER)
        db.execute(User.__table__.update().values(phone_verified=True))
        db.commit()
        known = passwordless.start_login(
            db, runtime.settings, guard, NUMBER, channel="sms", locale="id", ip="10.0.0.2"
        )
        unknown = passwordless.start_login(
            db, runtime.settings, guard, "+6281298765432", channel="sms", locale="id", ip="10.0.0.2"
        )
        db.commit()
        assert known.outgoing is not None and unknown.outgoing is None
        assert type(known.issued) is type(unknown.issued)
        rows = db.scalars(select(OneTimeCode)).all()
        assert {r.destination for r in rows} == {NUMBER, "+6281298765432"}
        # The code nobody was sent can never be right.
        for code in ("000000", "123456"):
            check, user = passwordless.finish_login(
                db, runtime.settings, unknown.issued.challenge_id, code
            )
            assert user is None and check.status == "wrong"


def test_sending_is_limited_per_number_the_same_for_unknown_ones(
    runtime: Runtime,
    guard: Throttle,
) -> None:
    with runtime.sessions() as db:
        for _ in range(runtime.settings.phone_code_max_sends_number):
            passwordless.start_login(
                db,
                runtime.settings,
                guard,
                "+6281298765432",
                channel="sms",
                locale="id",
                ip="10.0.0.3",
            )
        with pytest.raises(code_requests.SendRefused) as refused:
            passwordless.start_login(
                db,
                runtime.settings,
                guard,
                "+6281298765432",
                channel="sms",
                locale="id",
                ip="10.0.0.4",
            )
        assert 3500 < refused.value.retry_after <= 3600


def test_sending_is_limited_per_ip_and_per_range(
    runtime: Runtime,
    backend: str,
    backend_urls: dict[str, str],
    tmp_path: Path,
) -> None:
    settings = make_settings(
        backend_urls[backend], tmp_path, phone_code_max_sends_ip=3, phone_code_max_sends_prefix=4
    )
    guard = Throttle(settings, runtime.sessions)
    with runtime.sessions() as db:
        for i in range(3):
            passwordless.start_login(
                db, settings, guard, f"+628129876540{i}", channel="sms", locale="id", ip="10.9.9.9"
            )
        with pytest.raises(code_requests.SendRefused):
            passwordless.start_login(
                db, settings, guard, "+6281298765409", channel="sms", locale="id", ip="10.9.9.9"
            )
        # A pumping run over one range from many addresses: the range's limit stops it.
        passwordless.start_login(
            db, settings, guard, "+6281298765410", channel="sms", locale="id", ip="10.1.1.1"
        )
        with pytest.raises(code_requests.SendRefused):
            passwordless.start_login(
                db, settings, guard, "+6281298765411", channel="sms", locale="id", ip="10.1.1.2"
            )
        passwordless.start_login(
            db, settings, guard, "+6285712345678", channel="sms", locale="id", ip="10.1.1.3"
        )  # another range


def test_the_daily_budget_stops_sending(
    runtime: Runtime,
    backend: str,
    backend_urls: dict[str, str],
    tmp_path: Path,
    gateways: phone_gateway.Gateways,
) -> None:
    settings = make_settings(
        backend_urls[backend], tmp_path, phone_code_daily_budget=2, **gateways.settings()
    )
    guard = Throttle(settings, runtime.sessions)
    out = code_delivery.Outgoing("sms", NUMBER, "111111", "id", 5)
    sent = [code_delivery.send(settings, guard, Mailer(settings), out) for _ in range(3)]
    assert sent == ["sms", "sms", None]
    assert len(gateways.to(NUMBER)) == 2


def test_register_with_a_phone_number_alone(
    runtime: Runtime,
    guard: Throttle,
    gateways: phone_gateway.Gateways,
) -> None:
    reg = passwordless.PhoneRegistration(name="Budi Santoso", phone="0812-3456-7890", channel="sms")
    with runtime.sessions() as db:
        request = passwordless.start_registration(db, runtime.settings, guard, reg, ip="10.0.0.5")
        db.commit()
        send(runtime, guard, request)
        arrival = gateways.wait_code(NUMBER)
        assert arrival.channel == "sms"
        check, done = passwordless.finish_registration(
            db, runtime.settings, request.issued.challenge_id, arrival.code
        )
        db.commit()
        assert check.ok and done is not None and done.created
        user = db.get(User, done.user.id)
        assert user is not None
        assert (user.phone, user.phone_verified, user.email) == (NUMBER, True, None)
        assert user.username.startswith("budi.santoso") and user.password is None
        events = db.scalars(select(AuditEvent.event)).all()
        assert "user.registered" in events and "one_time_code.issued" in events
        # The same number again registers nobody new: its owner is logged in.
        again = passwordless.start_registration(db, runtime.settings, guard, reg, ip="10.0.0.5")
        db.commit()
        send(runtime, guard, again)
        second = gateways.wait_code(NUMBER, after=1)
        _, done2 = passwordless.finish_registration(
            db, runtime.settings, again.issued.challenge_id, second.code
        )
        assert done2 is not None and not done2.created and done2.user.id == user.id


def test_a_registration_refuses_a_number_codes_cannot_reach(
    runtime: Runtime,
    guard: Throttle,
) -> None:
    reg = passwordless.PhoneRegistration(name="", phone="021 555 1234")
    with runtime.sessions() as db, pytest.raises(passwordless.RegistrationInvalid) as bad:
        passwordless.start_registration(db, runtime.settings, guard, reg, ip="10.0.0.6")
    assert {e.field for e in bad.value.errors} == {"name", "phone"}


def test_verifying_a_phone_moves_it_from_its_previous_owner(
    runtime: Runtime,
    guard: Throttle,
    gateways: phone_gateway.Gateways,
) -> None:
    with runtime.sessions() as db:
        old = create_user(runtime, db, username="lama", phone=NUMBER)
        new = create_user(runtime, db, username="baru")
        db.execute(User.__table__.update().where(User.id == old.id).values(phone_verified=True))
        db.commit()
        request = passwordless.start_phone_verification(
            db,
            runtime.settings,
            guard,
            new,
            "0812 3456 7890",
            channel="whatsapp",
            locale="id",
            ip="10.0.0.7",
        )
        db.commit()
        send(runtime, guard, request)
        code = gateways.wait_code(NUMBER).code
        assert (
            passwordless.confirm_phone(
                db, runtime.settings, old, request.issued.challenge_id, code
            ).status
            == "expired"
        )
        assert passwordless.confirm_phone(
            db, runtime.settings, new, request.issued.challenge_id, code
        ).ok
        db.commit()
        db.expire_all()
        assert db.get(User, new.id).phone_verified  # type: ignore[union-attr]
        assert not db.get(User, old.id).phone_verified  # type: ignore[union-attr]
