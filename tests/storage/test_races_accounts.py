"""Account links (single-use account tokens) spent by several callers at once, on SQLite and on
PostgreSQL: a reset link submitted 8 times at once over HTTP, with mail going to a real SMTP
server, and a verification link opened 6 times at once below HTTP: exactly one wins. And a
one-time code guessed 12 times at once: at most five attempts count, at most one right guess
wins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.accounts import otp, registration
from sso.accounts.passwords import PasswordHasher
from sso.db.models import AuditEvent, OneTimeCode
from sso.db.models.one_time_codes import LOGIN
from sso.runtime import Runtime
from tests.accounts import mailbox as smtp
from tests.accounts.conftest import mailbox, settings  # noqa: F401  (the mail fixtures)
from tests.accounts.helpers import forgot, reset_form, submit_reset
from tests.factories import create_user
from tests.oidc.flow import csrf_of

PASSWORD = "kopi susu gula aren 2024"


def test_a_reset_link_used_twice_at_once_has_one_winner(
    runtime: Runtime,
    http: TestClient,
    db: Session,
    mailbox: smtp.Mailbox,  # noqa: F811  (the fixture imported above)
) -> None:
    """Moved from tests/accounts/test_recovery.py."""
    create_user(runtime, db, username="siti", email="siti@example.id")
    forgot(http, "siti@example.id")
    link = mailbox.wait(1)[0].link("/password/reset")
    csrf = csrf_of(reset_form(http, link).text)
    passwords = [f"concurrent passphrase {i:02d}" for i in range(8)]
    start = threading.Barrier(len(passwords))

    def submit(password: str) -> int:
        start.wait()
        return submit_reset(http, link, password, csrf=csrf).status_code

    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        statuses = list(pool.map(submit, passwords))
    assert sorted(statuses) == [200] + [400] * (len(passwords) - 1)
    db.rollback()
    resets = db.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "user.password_reset")
    )
    assert resets == 1


def test_a_verification_link_opened_twice_at_once(runtime: Runtime) -> None:
    """Moved from tests/accounts/test_services.py."""
    hasher = PasswordHasher(runtime.settings)
    reg = registration.Registration(name="Ani", email="ani@example.id", password=PASSWORD)
    with runtime.sessions() as session:
        outcome = registration.register_citizen(session, hasher, runtime.settings, reg)
        session.commit()
    link = next(line for line in outcome.mails[0].text.split() if "token=" in line)
    token = link.split("token=")[1]
    start = threading.Barrier(6)

    def open_link(_: int) -> str:
        start.wait()
        with runtime.sessions() as session:
            result = registration.verify_email(session, runtime.settings, token)
            session.commit()
            return result.status

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(open_link, range(6)))
    assert statuses == ["already"] * 5 + ["verified"]


def test_concurrent_guesses_never_exceed_five_attempts_and_one_right_code_wins(
    runtime: Runtime,
) -> None:
    """Moved from tests/accounts/test_one_time_codes.py (attempts are counted, and the challenge
    spent, by conditional UPDATEs)."""
    with runtime.sessions() as db:
        issued = otp.issue(
            db,
            runtime.settings,
            purpose=LOGIN,
            channel="sms",
            destination="+6281234567890",
            user_id=None,
        )
        db.commit()
    assert issued.code is not None
    wrong = f"{(int(issued.code) + 7) % 1_000_000:06d}"
    guesses = [wrong] * 8 + [issued.code] * 4
    results: list[str] = []
    start = threading.Barrier(len(guesses))

    def attempt(code: str) -> None:
        start.wait()
        with runtime.sessions() as db:
            check = otp.verify(db, runtime.settings, issued.challenge_id, code, LOGIN)
            db.commit()
            results.append(check.status)

    threads = [threading.Thread(target=attempt, args=(g,)) for g in guesses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") <= 1
    with runtime.sessions() as db:
        row = db.get(OneTimeCode, issued.challenge_id)
        assert row is not None and row.attempts <= 5
