"""Citizen registration over HTTP with a real SMTP server: the mail that arrives is what the
person follows. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.core.clock import FrozenClock
from sso.db.models import AccountToken, AuditEvent, User
from sso.runtime import Runtime
from tests.accounts import mailbox as smtp
from tests.accounts.conftest import rp_client
from tests.accounts.helpers import PASSWORD, path_of, register
from tests.factories import create_user
from tests.oidc.flow import authorize_url, csrf_of, login, query_of

RP = "https://rp.example.id/callback"


def events(db: Session, name: str) -> list[AuditEvent]:
    db.rollback()  # a fresh snapshot: the app committed in other connections
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def users_with_email(db: Session, email: str) -> int:
    db.rollback()  # a fresh snapshot: the app committed in other connections
    count = db.scalar(select(func.count()).select_from(User).where(User.email_normalized == email))
    assert count is not None
    return count


def text_of(response: httpx2.Response) -> str:
    return html.unescape(response.text)


def try_login(http: TestClient, client_id: str, username: str, password: str) -> httpx2.Response:
    """/authorize → login form → POST; the login response (no redirects followed)."""
    r = http.get(authorize_url(client_id).url, follow_redirects=False)
    assert r.status_code == 303
    interaction = r.headers["location"]
    page = http.get(interaction)
    return http.post(
        f"{interaction}/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def test_register_verify_then_log_in(
    http: TestClient,
    runtime: Runtime,
    db: Session,
    mailbox: smtp.Mailbox,
    frozen_clock: FrozenClock,
) -> None:
    client, _ = rp_client(runtime, db)
    r = register(http, phone="0812-3456-7890")
    assert r.status_code == 200
    assert "Periksa email Anda" in text_of(r) and "siti.aminah@example.id" in text_of(r)

    (mail,) = mailbox.wait(1)
    assert mail.rcpt_tos == ["siti.aminah@example.id"]
    assert mail.subject == "Verifikasi email akun Tangsel SSO Anda"
    assert "Halo Siti Aminah" in mail.text and "24 jam" in mail.text
    link = mail.link("/register/verify?token=tsso_ev_")
    assert link.startswith("http://testserver/register/verify?token=")
    assert html.escape(link) in mail.html  # the HTML alternative carries the same link

    user = db.scalar(select(User).where(User.email_normalized == "siti.aminah@example.id"))
    assert user is not None
    assert user.kind == "citizen" and user.status == "active" and not user.email_verified
    assert user.username == "siti.aminah" and user.phone == "+6281234567890"
    assert user.display_name == "Siti Aminah" and user.locale == "id"
    token_row = db.scalar(select(AccountToken))
    assert token_row is not None
    assert token_row.token_hash not in link and link.split("token=")[1] not in token_row.token_hash

    # Before verification (and after the grace login's minutes, see test_grace_login) the
    # right password is refused, with the reason.
    frozen_clock.advance(runtime.settings.email_verification_grace_minutes * 60 + 1)
    refused = try_login(http, client.client_id, "siti.aminah@example.id", PASSWORD)
    assert refused.status_code == 401
    assert "Email Anda belum diverifikasi" in text_of(refused)
    # A wrong password still gets the ordinary answer (nothing about verification).
    wrong = try_login(http, client.client_id, "siti.aminah@example.id", "not the password at all")
    assert wrong.status_code == 401 and "belum diverifikasi" not in text_of(wrong)

    verified = http.get(path_of(link))
    assert verified.status_code == 200 and "Email terverifikasi" in text_of(verified)
    again = http.get(path_of(link))  # a second click (or a mail scanner's first)
    assert again.status_code == 200 and "sudah terverifikasi sebelumnya" in text_of(again)

    location = login(http, authorize_url(client.client_id), "siti.aminah@example.id", PASSWORD)
    assert location.startswith(RP) and "code" in query_of(location)
    assert len(events(db, "user.registered")) == 1
    assert len(events(db, "user.email_verified")) == 1
    assert [e.details["reason"] for e in events(db, "user.login_failed")][:1] == ["unverified"]


def test_register_in_english(http: TestClient, db: Session, mailbox: smtp.Mailbox) -> None:
    r = register(http, email="Ani@Example.ID", name="Ani", lang="en")
    assert r.status_code == 200 and "Check your email" in text_of(r)
    assert r.headers["content-language"] == "en"
    (mail,) = mailbox.wait(1)
    assert mail.subject == "Verify the email of your Tangsel SSO account"
    assert "Hello Ani" in mail.text and "24 hours" in mail.text
    user = db.scalar(select(User))
    assert user is not None
    assert user.locale == "en" and user.email == "Ani@Example.ID"
    assert user.email_normalized == "ani@example.id" and user.username == "ani"

    verified = http.get(path_of(mail.link("/register/verify")))
    assert "Email verified" in text_of(verified)


def test_bad_or_spent_verification_links(
    http: TestClient, db: Session, mailbox: smtp.Mailbox
) -> None:
    assert http.get("/register/verify?token=tsso_ev_nope").status_code == 400
    r = http.get("/register/verify")
    assert r.status_code == 400 and "Tautan tidak berlaku" in text_of(r)
    r = http.get("/register/verify?lang=en&token=" + "x" * 5000)
    assert r.status_code == 400 and "Link not valid" in text_of(r)


def test_expired_verification_link(
    http: TestClient, db: Session, mailbox: smtp.Mailbox, frozen_clock: FrozenClock
) -> None:
    register(http)
    link = mailbox.wait(1)[0].link("/register/verify")
    frozen_clock.advance(24 * 3600 + 1)
    r = http.get(path_of(link))
    assert r.status_code == 400 and "kedaluwarsa" in text_of(r)
    assert not db.scalar(select(User.email_verified))


def test_duplicate_email_answers_the_same_and_mails_the_owner(
    http: TestClient, runtime: Runtime, db: Session, mailbox: smtp.Mailbox
) -> None:
    first = register(http, email="budi@example.id", name="Budi")
    second = register(
        http, email="BUDI@example.id", name="Someone Else", password="another fine passphrase"
    )
    assert first.status_code == second.status_code == 200
    assert first.text == second.text.replace("BUDI@example.id", "budi@example.id")
    assert users_with_email(db, "budi@example.id") == 1

    verify, note = mailbox.wait(2)
    assert verify.subject.startswith("Verifikasi") and note.rcpt_tos == ["budi@example.id"]
    assert note.subject == "Ada yang mencoba mendaftar dengan email Anda"
    assert "Halo Budi" in note.text and "Someone Else" not in note.text
    assert note.link("/password/forgot")
    # Still unverified: the note carries a fresh verification link, and it works.
    r = http.get(path_of(note.link("/register/verify")))
    assert "Email terverifikasi" in text_of(r)
    assert [e.details["reason"] for e in events(db, "user.registration_existing")] == [
        "email_taken"
    ]


def test_duplicate_of_a_verified_account_gets_no_verification_link(
    http: TestClient, runtime: Runtime, db: Session, mailbox: smtp.Mailbox
) -> None:
    create_user(runtime, db, username="ani", email="ani@example.id", locale="en")
    r = register(http, email="ani@example.id")
    assert r.status_code == 200 and "Periksa email Anda" in text_of(r)
    (note,) = mailbox.wait(1)
    assert note.subject == "Someone tried to register with your email"  # the owner's language
    assert "/register/verify" not in note.text and note.link("/password/forgot")
    assert users_with_email(db, "ani@example.id") == 1


@pytest.mark.parametrize(
    ("lang", "password", "email", "expected"),
    [
        (None, "kopi 12", "warga@example.id", "Kata sandi terlalu pendek: minimal 8 karakter."),
        ("en", "tea 123", "warga@example.id", "The password is too short: at least 8 characters."),
        (None, "x" * 129, "warga@example.id", "Kata sandi terlalu panjang: maksimal 128 karakter."),
        ("en", "y" * 129, "warga@example.id", "The password is too long: at most 128 characters."),
        (None, "Password123", "warga@example.id", "termasuk yang paling sering dipakai"),
        ("en", "iloveyou", "warga@example.id", "one of the most commonly used"),
        (
            None,
            "rahasia-siti.aminah!",
            "siti.aminah@example.id",
            "tidak boleh memuat nama pengguna",
        ),
        ("en", "my name is WARGA123 ok", "warga123@example.id", "must not contain your username"),
    ],
)
def test_password_policy_refusals_explained(
    http: TestClient,
    db: Session,
    mailbox: smtp.Mailbox,
    lang: str | None,
    password: str,
    email: str,
    expected: str,
) -> None:
    r = register(http, email=email, password=password, lang=lang)
    assert r.status_code == 400
    assert expected in text_of(r)
    assert password not in r.text  # the password is never echoed back
    assert email in text_of(r)  # the rest of the form is kept
    assert users_with_email(db, email) == 0
    assert mailbox.messages() == []


def test_spaces_and_any_characters_are_fine(
    http: TestClient, db: Session, mailbox: smtp.Mailbox
) -> None:
    r = register(http, email="dewi@example.id", password="  ☕ kopi pagi di Serpong  ")
    assert r.status_code == 200
    assert users_with_email(db, "dewi@example.id") == 1


@pytest.mark.parametrize(
    ("lang", "fields", "expected"),
    [
        (None, {"email": "not-an-email"}, "Alamat email tidak valid"),
        ("en", {"email": "a@b"}, "This email address is not valid"),
        (None, {"phone": "12ab"}, "Nomor HP tidak valid"),
        (None, {"name": "   "}, "Isi nama lengkap Anda."),
        (None, {"confirm": "something else entirely"}, "Kedua kata sandi tidak sama"),
        ("en", {"confirm": "something else entirely"}, "The two passwords are not the same"),
    ],
)
def test_form_mistakes_are_explained(
    http: TestClient,
    db: Session,
    mailbox: smtp.Mailbox,
    lang: str | None,
    fields: dict[str, str],
    expected: str,
) -> None:
    r = register(http, lang=lang, **fields)
    assert r.status_code == 400 and expected in text_of(r)
    assert db.scalar(select(func.count()).select_from(User)) == 0
    assert mailbox.messages() == []


def test_register_post_needs_csrf(http: TestClient, db: Session) -> None:
    r = http.post(
        "/register",
        data={
            "name": "A",
            "email": "a@example.id",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert r.status_code == 403
    assert db.scalar(select(func.count()).select_from(User)) == 0


def test_login_page_links_to_register_and_forgot(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    client, _ = rp_client(runtime, db)
    r = http.get(authorize_url(client.client_id).url)
    # Registration from an app's login page keeps its parked request (issue 15).
    interaction = urlsplit(str(r.url)).path
    assert f'href="{interaction}/register?lang=id"' in r.text and ">Daftar<" in r.text
    assert 'href="/password/forgot?lang=id"' in r.text and "Lupa kata sandi?" in r.text
    assert "Daftar akun warga" in http.get("/register").text
    assert "Register a citizen account" in http.get("/register?lang=en").text


def test_same_registration_submitted_100_times_at_once_makes_one_account(
    http: TestClient, db: Session, mailbox: smtp.Mailbox
) -> None:
    page = http.get("/register")
    form = {
        "name": "Rina",
        "email": "rina@example.id",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "csrf_token": csrf_of(page.text),
    }
    start = threading.Barrier(100)

    def submit(_: int) -> tuple[int, str]:
        start.wait()
        r = http.post("/register", data=form)
        return r.status_code, r.text

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(submit, range(100)))

    assert {status for status, _ in results} == {200}
    assert len({body for _, body in results}) == 1
    assert users_with_email(db, "rina@example.id") == 1
    mails = mailbox.wait(100)
    assert len(mails) == 100
    subjects = sorted(m.subject for m in mails)
    assert subjects.count("Verifikasi email akun Tangsel SSO Anda") == 1
    assert len(events(db, "user.registered")) == 1
    assert len(events(db, "user.registration_existing")) == 99
