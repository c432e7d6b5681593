""" "Kirim ulang" of the verification link on the "check your email" page: a new link that
voids the old one for an address waiting for verification, the same page for any other
address, and a limit per address."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.runtime import Runtime
from tests.accounts import mailbox as smtp
from tests.accounts.helpers import path_of, register
from tests.factories import create_user
from tests.oidc.flow import csrf_of


def resend(http: TestClient, page_text: str, email: str) -> object:
    return http.post("/register/resend", data={"email": email, "csrf_token": csrf_of(page_text)})


def test_a_new_link_replaces_the_old_one(http: TestClient, mailbox: smtp.Mailbox) -> None:
    sent = register(http)
    assert sent.status_code == 200 and 'id="resend-link"' in sent.text
    first = mailbox.wait(1)[0].link("/register/verify")
    again = resend(http, sent.text, "siti.aminah@example.id")
    assert again.status_code == 200 and 'id="resent"' in again.text  # type: ignore[attr-defined]
    second = mailbox.wait(2)[1].link("/register/verify")
    assert first != second
    assert http.get(path_of(first)).status_code == 400
    assert http.get(path_of(second)).status_code == 200


def test_the_same_page_for_an_address_without_a_waiting_account(
    runtime: Runtime,
    db: Session,
    http: TestClient,
    mailbox: smtp.Mailbox,
) -> None:
    create_user(runtime, db, username="andi")  # verified already
    page = http.get("/register")
    for email in ("andi@example.id", "nobody@example.id"):
        answer = resend(http, page.text, email)
        assert answer.status_code == 200 and 'id="resent"' in answer.text  # type: ignore[attr-defined]
    assert mailbox.messages() == []


def test_links_are_limited_per_address(http: TestClient, mailbox: smtp.Mailbox) -> None:
    sent = register(http)
    statuses = [
        resend(http, sent.text, "siti.aminah@example.id").status_code  # type: ignore[attr-defined]
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]
