"""Races with exactly one winner, on PostgreSQL with real parallel connections.

Covered elsewhere, with the same shape: one code redeemed 20 times at once
(``tests/oauth/test_token.py``), the same registration submitted 100 times at once
(``tests/accounts/test_registration.py``), a reset link used twice at once
(``tests/accounts/test_recovery.py``). Here: a refresh token used 10 times at once, and a
consent form submitted twice at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent, Consent, Grant
from sso.web.app_runtime import AppRuntime
from tests.factories import create_client, create_user
from tests.oauth.helpers import build_app, code_form, issue_code, make_env
from tests.oidc.flow import authorize_url, csrf_of, query_of
from tests.security.conftest import postgres_only

REDIRECT = "https://rp.example.id/callback"
T = TypeVar("T")


def at_once(count: int, action: Callable[[int], T]) -> list[T]:
    """Run ``action(i)`` in ``count`` threads released together."""
    start = threading.Barrier(count)

    def run(i: int) -> T:
        start.wait()
        return action(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _events(db: Session, name: str) -> int:
    return int(
        db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == name)) or 0
    )


def test_a_refresh_token_used_ten_times_at_once_has_one_winner(
    backend: str, runtime: AppRuntime, db: Session
) -> None:
    postgres_only(backend)
    env = make_env(runtime)
    client, secret = create_client(runtime, db, redirect_uris=[REDIRECT])
    assert secret is not None
    user = create_user(runtime, db, username="siti")
    issued = issue_code(runtime, client, user, scope="openid offline_access")
    first = env.http.post("/token", data=code_form(issued), auth=(client.client_id, secret))
    assert first.status_code == 200, first.text
    refresh = first.json()["refresh_token"]

    def use(_: int) -> tuple[int, str]:
        http = TestClient(build_app(runtime))  # a connection of its own per caller
        r = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh},
            auth=(client.client_id, secret),
        )
        return r.status_code, r.json().get("error", "")

    results = at_once(10, use)
    assert sorted(status for status, _ in results) == [200] + [400] * 9
    assert {error for status, error in results if status == 400} == {"invalid_grant"}
    # The losers presented a token already rotated: reuse detection revoked the grant, so
    # even the winner's new refresh token is dead (RFC 9700 §4.14.2).
    grant = db.get(Grant, issued.grant_id)
    assert grant is not None
    db.refresh(grant)
    assert grant.revoked_at is not None
    assert _events(db, "refresh_token.reused") >= 1


def test_a_consent_form_submitted_twice_at_once_gives_one_code(
    backend: str, http: TestClient, runtime: AppRuntime, db: Session
) -> None:
    postgres_only(backend)
    client, _ = create_client(runtime, db, redirect_uris=[REDIRECT])
    create_user(runtime, db, username="siti")
    req = authorize_url(client.client_id)
    interaction = http.get(req.url, follow_redirects=False).headers["location"]
    page = http.get(interaction)
    r = http.post(
        f"{interaction}/login",
        data={
            "username": "siti",
            "password": "correct horse battery staple",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    consent_page = http.get(interaction)
    assert 'name="decision"' in consent_page.text
    form = {"decision": "allow", "csrf_token": csrf_of(consent_page.text)}

    def submit(_: int) -> tuple[int, str]:
        r = http.post(f"{interaction}/consent", data=form, follow_redirects=False)
        return r.status_code, r.headers.get("location", "")

    results = at_once(4, submit)
    winners = [location for status, location in results if status == 303]
    assert len(winners) == 1, results
    assert winners[0].startswith(REDIRECT) and query_of(winners[0])["state"] == req.state
    assert sorted(status for status, _ in results) == [303, 400, 400, 400]
    assert _events(db, "code.issued") == 1
    assert db.scalar(select(func.count()).select_from(Consent)) == 1
