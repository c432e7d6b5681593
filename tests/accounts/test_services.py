"""The account services below HTTP: create_user applies the policy, registration survives a
forced race, and the mailer's SMTP and no-SMTP paths. (A verification link opened several times
at once: tests/storage/test_races_accounts.py.)"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from sso.accounts import registration
from sso.accounts.mail import Mail, Mailer, MailError
from sso.accounts.passwords import PasswordHasher
from sso.accounts.policy import PasswordRefused
from sso.accounts.service import NewUser, create_user
from sso.db.models import User
from tests.accounts.mailbox import free_port
from tests.conftest import make_settings
from tests.factories import create_agency

PASSWORD = "kopi susu gula aren 2024"


class BarrierHasher:
    """Hashes, then waits until every thread has hashed: all of them reach the database at the
    same moment, past the "is this email taken?" check together."""

    def __init__(self, hasher: PasswordHasher, parties: int) -> None:
        self._hasher = hasher
        self._barrier = threading.Barrier(parties, timeout=60)

    def hash(self, password: str) -> str:
        hashed = self._hasher.hash(password)
        self._barrier.wait()
        return hashed


def test_create_user_applies_the_policy(runtime, db) -> None:
    hasher = PasswordHasher(runtime.settings)
    agency = create_agency(db)
    staff = NewUser(username="budi", email="budi@example.id", kind="staff", agency_code=agency.code)
    with pytest.raises(PasswordRefused) as caught:
        create_user(db, hasher, staff, "sebelas kar")
    assert caught.value.params == {"min": 12} and "12" in (caught.value.detail or "")
    with pytest.raises(PasswordRefused) as caught:
        create_user(db, hasher, staff, "budi is my name ok")
    assert caught.value.message == "password.contains_identifier"
    with pytest.raises(PasswordRefused):
        create_user(db, hasher, NewUser(username="ani", email="ani@example.id"), "iloveyou")
    assert create_user(db, hasher, staff, "dua belas kar").kind == "staff"
    assert create_user(db, hasher, NewUser(username="ani", email="ani@example.id"), "delapan!")
    # Without a password (an account that logs in otherwise) there is nothing to check.
    assert create_user(db, hasher, NewUser(username="dewi", email="dewi@example.id"), None)


def test_registrations_racing_past_the_existence_check_make_one_account(runtime) -> None:
    parties = 12  # within the connection pool (10 + 10 overflow)
    hasher = BarrierHasher(PasswordHasher(runtime.settings), parties)
    reg = registration.Registration(name="Rina", email="rina@example.id", password=PASSWORD)

    def attempt(_: int) -> bool:
        with runtime.sessions() as session:
            outcome = registration.register_citizen(session, hasher, runtime.settings, reg)  # type: ignore[arg-type]
            session.commit()
            return outcome.created

    with ThreadPoolExecutor(max_workers=parties) as pool:
        created = list(pool.map(attempt, range(parties)))
    assert created.count(True) == 1
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_usernames_from_the_same_local_part_get_a_suffix(runtime, db) -> None:
    hasher = PasswordHasher(runtime.settings)
    for domain in ("example.id", "contoh.id", "mail.id"):
        reg = registration.Registration(name="Ani", email=f"ani@{domain}", password=PASSWORD)
        with runtime.sessions() as session:
            registration.register_citizen(session, hasher, runtime.settings, reg)
            session.commit()
    names = sorted(db.scalars(select(User.username_normalized)))
    assert names[0] == "ani" and all(n.startswith("ani-") and len(n) == 8 for n in names[1:])


@pytest.mark.parametrize(
    ("email", "base"),
    [
        ("siti.aminah@example.id", "siti.aminah"),
        ("Budi+sso@example.id", "budi"),
        ("x@example.id", "wargax"),
        ("a..b__c@example.id", "a-b-c"),
        ("élodie@example.id", "elodie"),
        ("---@example.id", "warga"),
    ],
)
def test_username_base(email: str, base: str) -> None:
    assert registration.username_base(email.casefold()) == base


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("(021) 555 1234", "+62215551234"),
        ("0044 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_are_stored_in_e164(raw: str, expected: str) -> None:
    assert registration.normalize_phone(raw) == expected


MAIL = Mail(
    to="siti@example.id",
    subject="Subjek",
    text="Halo\nhttp://testserver/register/verify?token=tsso_ev_secretvalue\n",
    html="<p>Halo</p>",
)


def test_smtp_login_and_message_shape(backend_urls, tmp_path, mailbox) -> None:
    settings = make_settings(
        backend_urls["sqlite"],
        tmp_path,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_starttls=False,
        smtp_username="sso",
        smtp_password="smtp-pass",
        mail_from="Tangsel SSO <no-reply@tangerangselatankota.go.id>",
    )
    Mailer(settings).send(MAIL)
    (got,) = mailbox.wait(1)
    assert mailbox.logins == [("sso", "smtp-pass")]
    message = got.message
    assert message["From"] == "Tangsel SSO <no-reply@tangerangselatankota.go.id>"
    assert message["Message-ID"].endswith("@tangerangselatankota.go.id>")
    assert message["Auto-Submitted"] == "auto-generated" and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    assert got.text.replace("\r\n", "\n") == MAIL.text and got.html.strip() == MAIL.html


def test_smtp_failures_are_logged_not_raised(backend_urls, tmp_path, caplog) -> None:
    settings = make_settings(
        backend_urls["sqlite"],
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_starttls=False,
    )
    mailer = Mailer(settings)
    with pytest.raises(MailError):
        mailer.send(MAIL)
    caplog.set_level(logging.INFO, logger="sso.mail")
    mailer.deliver([MAIL])
    (record,) = [r for r in caplog.records if r.name == "sso.mail"]
    assert record.levelno == logging.ERROR and "mail not sent" in record.getMessage()


def test_without_smtp_test_env_logs_and_prod_refuses(backend_urls, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sso.mail")
    Mailer(make_settings(backend_urls["sqlite"], tmp_path)).send(MAIL)
    assert "Subject: Subjek" in caplog.text and "siti@example.id" in caplog.text
    prod = make_settings(backend_urls["sqlite"], tmp_path)
    prod.env = "prod"  # the other prod checks are not the point here
    with pytest.raises(MailError, match="SSO_SMTP_HOST"):
        Mailer(prod).send(MAIL)


def test_without_smtp_dev_env_prints_the_whole_mail_with_its_link(
    backend_urls, tmp_path, capsys, caplog
) -> None:
    caplog.set_level(logging.INFO)
    dev = make_settings(backend_urls["sqlite"], tmp_path)
    dev.env = "dev"
    Mailer(dev).send(MAIL)
    # The link is the point in dev: it reaches the console unmasked, and the ordinary
    # (redacting, possibly shipped) log handlers never see it.
    assert "token=tsso_ev_secretvalue" in capsys.readouterr().err
    assert "tsso_ev_secretvalue" not in caplog.text


def test_an_overlong_email_is_refused_before_the_database() -> None:
    reg = registration.Registration(
        name="Ani", email="a" * 60 + "@" + "b" * 200 + ".example.id", password=PASSWORD
    )
    with pytest.raises(registration.RegistrationInvalid) as caught:
        registration.validate(reg)
    assert [(e.field, e.key) for e in caught.value.errors] == [("email", "error.email_invalid")]
