"""Every refusal of the account console, over HTTP: what the person sees, that nothing changed,
and the audit event. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.accounts import sessions as login_sessions
from sso.core.clock import FrozenClock
from sso.db.models import AccountToken, LoginSession, User
from sso.runtime import Runtime
from tests.accounts import mailbox as smtp
from tests.accounts.console import console, events, post, redirected_to_login, text_of
from tests.factories import PASSWORD, create_user

NEW = "nasi uduk di pagi hari"
NIK = "3674012301900001"


@pytest.fixture
def siti(runtime: Runtime, db: Session) -> User:
    return create_user(runtime, db, username="siti", display_name="Siti")


@pytest.fixture
def logged_in(http: TestClient, siti: User) -> User:
    assert console(http, "/account?lang=en", "siti").status_code == 200
    return siti


def fresh_user(db: Session, user_id: str) -> User:
    db.rollback()
    user = db.get(User, user_id, populate_existing=True)
    assert user is not None
    return user


def password_hash_of(db: Session, user_id: str) -> str:
    credential = fresh_user(db, user_id).password
    assert credential is not None
    return credential.password_hash


def main_of(response: httpx2.Response, address: str) -> str:
    """The page's main content with the address it names replaced."""
    main = text_of(response).split("<main", 1)[1].split("</main>", 1)[0]
    return main.replace(address, "ADDRESS")


def change_password(
    http: TestClient, current: str, new: str = NEW, confirm: str | None = None
) -> httpx2.Response:
    return post(
        http,
        "/account/password",
        "/account/password?lang=en",
        {
            "current_password": current,
            "password": new,
            "password_confirm": new if confirm is None else confirm,
        },
    )


def test_wrong_current_password_is_refused_and_counted(
    http: TestClient, db: Session, logged_in: User
) -> None:
    before = password_hash_of(db, logged_in.id)
    r = change_password(http, "not my password")
    assert r.status_code == 400 and "Your current password is not correct." in text_of(r)
    assert password_hash_of(db, logged_in.id) == before
    assert not events(db, "user.login_failed")  # not a login: the person is logged in
    [failed] = [e for e in events(db, "user.reauth_failed") if e.details.get("action")]
    assert failed.details == {"reason": "bad_password", "action": "password_change"}
    assert not events(db, "user.password_changed")
    # The same limits as the login form: after 5 wrong passwords even the right one waits.
    for _ in range(4):
        assert change_password(http, "still wrong").status_code == 400
    locked = change_password(http, PASSWORD)
    assert locked.status_code == 429 and "please wait 1 minute" in text_of(locked)
    assert int(locked.headers["Retry-After"]) == 60
    assert password_hash_of(db, logged_in.id) == before


def test_new_password_must_pass_the_policy_and_match(
    http: TestClient, db: Session, logged_in: User
) -> None:
    r = change_password(http, PASSWORD, "password123")
    assert r.status_code == 400 and "most commonly used" in text_of(r)
    r = change_password(http, PASSWORD, "siti loves her garden")
    assert r.status_code == 400 and "must not contain your username" in text_of(r)
    r = change_password(http, PASSWORD, NEW, "nasi uduk di siang hari")
    assert r.status_code == 400 and "not the same" in text_of(r)
    assert not events(db, "user.password_changed")


def test_a_stale_login_must_log_in_again_before_a_sensitive_change(
    http: TestClient, db: Session, siti: User, frozen_clock: FrozenClock
) -> None:
    assert console(http, "/account?lang=en", "siti").status_code == 200
    csrf_page = http.get("/account/password")
    assert csrf_page.status_code == 200
    frozen_clock.advance(301)
    assert http.get("/account").status_code == 200  # plain pages still work
    for path in (
        "/account/password",
        "/account/email",
        "/account/nik",
        "/account/delete",
        "/account/data",
        "/account/export",
    ):
        query = redirected_to_login(http.get(path, follow_redirects=False))
        assert query["max_age"] == "300", path
    from tests.oidc.flow import csrf_of

    token = csrf_of(csrf_page.text)
    for action, data in (
        (
            "/account/password",
            {"current_password": PASSWORD, "password": NEW, "password_confirm": NEW},
        ),
        ("/account/email", {"email": "baru@example.id"}),
        ("/account/nik", {"nik": NIK, "action": "set"}),
        ("/account/delete", {"password": PASSWORD, "confirm": "yes"}),
    ):
        r = http.post(action, data={**data, "csrf_token": token}, follow_redirects=False)
        assert redirected_to_login(r)["max_age"] == "300", action
    user = fresh_user(db, siti.id)
    assert user.nik_hash is None and user.email_normalized == "siti@example.id"
    assert not events(db, "user.password_changed") and not events(db, "user.deleted")
    # Logging in again brings the person back to the form, which now works.
    page = console(http, "/account/password?lang=en", "siti")
    assert page.status_code == 200 and "Change password" in text_of(page)
    assert change_password(http, PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("nik", "message"),
    [
        ("36740123019000", "A NIK is exactly 16 digits."),
        ("3674O12301900001", "A NIK is exactly 16 digits."),
        ("0074012301900001", "Digits 1–6 of a NIK must be a real region code"),
        ("3674013202900001", "Digits 7–12 of a NIK must be a birth date"),
        ("3674017213900001", "Digits 7–12 of a NIK must be a birth date"),
        ("3674012301900000", "must not be 0000"),
    ],
)
def test_a_bad_nik_is_explained_in_words(
    http: TestClient, db: Session, logged_in: User, nik: str, message: str
) -> None:
    r = post(http, "/account/nik?lang=en", "/account/nik?lang=en", {"nik": nik, "action": "set"})
    assert r.status_code == 400 and message in text_of(r)
    assert fresh_user(db, logged_in.id).nik_hash is None
    assert not events(db, "user.nik_set")


def test_a_nik_of_another_account_is_refused(
    http: TestClient, runtime: Runtime, db: Session, logged_in: User
) -> None:
    other = create_user(runtime, db, username="budi")
    assert console(http, "/account", "siti").status_code == 200
    with runtime.sessions() as s:
        from sso.accounts.profile import set_nik

        set_nik(s, runtime.settings, runtime.encryptor, s.get_one(User, other.id), NIK)
        s.commit()
    r = post(http, "/account/nik?lang=en", "/account/nik?lang=en", {"nik": NIK, "action": "set"})
    assert r.status_code == 409 and "already linked to another account" in text_of(r)
    assert fresh_user(db, logged_in.id).nik_hash is None


def test_staff_cannot_add_a_nik_nor_delete_themselves(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    staff = create_user(
        runtime,
        db,
        username="budi",
        kind="staff",
        nip="198503122010011001",
        password="a long staff passphrase 2024",
    )
    assert console(http, "/account", "budi", "a long staff passphrase 2024").status_code == 200
    r = http.get("/account/nik?lang=en", headers={"accept": "text/html"})
    assert r.status_code == 403 and "citizen accounts only" in text_of(r)
    token = http.get("/account/delete?lang=en")
    assert token.status_code == 200 and "cannot be deleted here" in text_of(token)
    from tests.oidc.flow import csrf_of

    r = http.post(
        "/account/delete?lang=en",
        data={
            "password": "a long staff passphrase 2024",
            "confirm": "yes",
            "csrf_token": csrf_of(token.text),
        },
        headers={"accept": "text/html"},
    )
    assert r.status_code == 403 and "cannot be deleted by their owner" in text_of(r)
    assert fresh_user(db, staff.id).status == "active"
    assert not events(db, "user.deleted")


def test_another_persons_session_cannot_be_ended(
    http: TestClient, runtime: Runtime, db: Session, logged_in: User
) -> None:
    other = create_user(runtime, db, username="budi")
    with runtime.sessions() as s:
        theirs = login_sessions.start(s, runtime.settings, s.get_one(User, other.id), amr=["pwd"])
        s.commit()
    for session_id in (theirs.row.id, "no-such-session"):
        r = post(
            http,
            "/account/sessions",
            "/account/sessions/end?lang=en",
            {"session_id": session_id},
            headers={"accept": "text/html"},
        )
        assert r.status_code == 404 and "not yours" in text_of(r)
    db.rollback()
    assert db.get_one(LoginSession, theirs.row.id, populate_existing=True).ended_at is None
    refused = [e for e in events(db, "session.ended") if e.outcome == "failure"]
    assert len(refused) == 2 and all(e.actor_id == logged_in.id for e in refused)


def test_an_app_without_access_cannot_be_revoked(http: TestClient, logged_in: User) -> None:
    r = post(
        http,
        "/account/apps",
        "/account/apps/revoke?lang=en",
        {"client_id": "nosuchapp"},
        headers={"accept": "text/html"},
    )
    assert r.status_code == 404 and "no access to your account" in text_of(r)


def test_profile_form_mistakes_and_a_stale_page(
    http: TestClient, runtime: Runtime, db: Session, logged_in: User
) -> None:
    r = post(
        http,
        "/account",
        "/account/profile?lang=en",
        {"name": " ", "phone": "12", "locale": "fr", "version": ""},
    )
    assert r.status_code == 400
    body = text_of(r)
    assert "Enter your full name." in body and "mobile number is not valid" in body
    assert "Choose Bahasa Indonesia or English." in body
    version = str(fresh_user(db, logged_in.id).version)
    with runtime.sessions() as s:  # another window saves first
        s.get_one(User, logged_in.id).display_name = "Siti dari jendela lain"
        s.commit()
    r = post(
        http,
        "/account",
        "/account/profile?lang=en",
        {"name": "Siti Baru", "phone": "", "locale": "id", "version": version},
    )
    assert r.status_code == 409 and "changed in another window" in text_of(r)
    assert fresh_user(db, logged_in.id).display_name == "Siti dari jendela lain"
    assert not events(db, "user.profile_updated")


def test_email_change_refusals(
    http: TestClient, runtime: Runtime, db: Session, mailbox: smtp.Mailbox, logged_in: User
) -> None:
    create_user(runtime, db, username="budi", email="budi@example.id")
    r = post(http, "/account/email", "/account/email?lang=en", {"email": "SITI@example.id"})
    assert r.status_code == 400 and "already your account's email" in text_of(r)
    r = post(http, "/account/email", "/account/email?lang=en", {"email": "not an address"})
    assert r.status_code == 400 and "not valid" in text_of(r)
    # An address of another account: the same page as a free one, a note to that address.
    taken = post(http, "/account/email", "/account/email?lang=en", {"email": "budi@example.id"})
    free = post(http, "/account/email", "/account/email?lang=en", {"email": "rina@example.id"})
    assert taken.status_code == free.status_code == 200
    assert main_of(taken, "budi@example.id") == main_of(free, "rina@example.id")
    note = mailbox.wait(2)
    [to_budi] = [m for m in note if m.rcpt_tos == ["budi@example.id"]]
    assert "nothing was changed" in to_budi.text or "tidak ada yang diubah" in to_budi.text
    assert not to_budi.links() or all("/account/email/confirm" not in u for u in to_budi.links())
    db.rollback()
    assert (
        len(db.scalars(select(AccountToken).where(AccountToken.user_id == logged_in.id)).all()) == 1
    )
    # A made-up or spent link changes nothing.
    bad = http.get("/account/email/confirm?token=tsso_ev_madeup&lang=en")
    assert bad.status_code == 400 and "not valid" in text_of(bad)
    assert fresh_user(db, logged_in.id).email_normalized == "siti@example.id"


def test_email_taken_between_request_and_confirmation(
    http: TestClient, runtime: Runtime, db: Session, mailbox: smtp.Mailbox, logged_in: User
) -> None:
    post(http, "/account/email", "/account/email", {"email": "rina@example.id"})
    (mail,) = mailbox.wait(1)
    create_user(runtime, db, username="rina", email="rina@example.id")
    from tests.accounts.helpers import path_of

    r = http.get(path_of(mail.link("/account/email/confirm")) + "&lang=en")
    assert r.status_code == 409 and "already belongs to another account" in text_of(r)
    assert fresh_user(db, logged_in.id).email_normalized == "siti@example.id"


def test_deletion_needs_the_box_ticked_and_the_right_password(
    http: TestClient, db: Session, logged_in: User
) -> None:
    r = post(
        http, "/account/delete", "/account/delete?lang=en", {"password": PASSWORD, "confirm": ""}
    )
    assert r.status_code == 400 and "Tick the box" in text_of(r)
    r = post(
        http,
        "/account/delete",
        "/account/delete?lang=en",
        {"password": "wrong password", "confirm": "yes"},
    )
    assert r.status_code == 400 and "current password is not correct" in text_of(r)
    assert fresh_user(db, logged_in.id).status == "active"
    assert not events(db, "user.deleted")
    # Recorded as a failed confirmation of a logged-in person, not as a failed login
    # (issue 14 item 11): dashboards and the login-failure metrics count logins only.
    assert not events(db, "user.login_failed")
    [failed] = events(db, "user.reauth_failed")
    assert failed.actor_id == failed.target_id == logged_in.id
    assert failed.details == {"reason": "bad_password", "action": "delete_account"}


def test_console_forms_need_the_csrf_token(http: TestClient, db: Session, logged_in: User) -> None:
    r = http.post(
        "/account/profile",
        data={"name": "Eve", "phone": "", "locale": "id"},
        headers={"accept": "text/html"},
    )
    assert r.status_code == 403
    assert fresh_user(db, logged_in.id).display_name == "Siti"
