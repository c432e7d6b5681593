"""Races with exactly one winner, on PostgreSQL with real threads and real parallel connections
(SQLite runs one writer at a time: nothing to race there).

First the contract: every kind of single-use row (:data:`tests.storage.kinds.KINDS`) spent by
N callers at once, each on a connection of its own, gives exactly one ``ok`` and N-1 ``reused``.
Then the same races over HTTP, as a relying party or a person meets them: one code redeemed 20
times at once, a refresh token used 10 times at once, an approved device code polled 10 times at
once, a consent form submitted 4 times at once. (The account links' races, which also run on
SQLite, are in tests/storage/test_races_accounts.py.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.core.clock import FrozenClock
from sso.db.models import AuditEvent, Consent, Grant, RefreshToken, User
from sso.runtime import Runtime
from sso.storage.single_use import Outcome
from tests.factories import create_client, create_user
from tests.oauth.helpers import ISSUER, build_app, code_form, issue_code, make_env
from tests.oauth.test_device import DEVICE_GRANT, approve, poll, started
from tests.oidc.flow import authorize_url, csrf_of, query_of
from tests.storage.kinds import Kind, Parents, new_key

REDIRECT = "https://rp.example.id/callback"
T = TypeVar("T")


def postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("real parallel connections: PostgreSQL only")


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


# ---------------------------------------------------------------------------- the contract


@pytest.mark.parametrize("callers", [2, 12])
def test_parallel_consumes_have_exactly_one_winner(
    backend: str,
    kind: Kind,
    callers: int,
    runtime: Runtime,
    session: Session,
    parents: Parents,
    clock: FrozenClock,
) -> None:
    postgres_only(backend)
    key = new_key()
    kind.add(session, parents, key, clock.now() + timedelta(minutes=10))
    session.commit()
    # Each caller's session holds its own connection (checked out, transaction begun) before
    # they are released together.
    sessions = [runtime.sessions() for _ in range(callers)]
    try:
        held = {id(s.connection().connection.dbapi_connection) for s in sessions}
        assert len(held) == callers

        def consume(i: int) -> Outcome:
            outcome = kind.consume(sessions[i], key)
            sessions[i].commit()
            return outcome

        outcomes = at_once(callers, consume)
    finally:
        for s in sessions:
            s.close()
    assert sorted(outcomes) == sorted([Outcome.OK] + [Outcome.REUSED] * (callers - 1))
    assert kind.get(session, key).consumed_at == clock.now()


# ---------------------------------------------------------------------------- over HTTP


def test_twenty_parallel_redemptions_exactly_one_wins(
    backend: str, runtime: Runtime, db: Session
) -> None:
    """Moved from tests/oauth/test_token.py."""
    postgres_only(backend)
    env = make_env(runtime)
    client, secret = create_client(runtime, db, redirect_uris=[REDIRECT])
    assert secret is not None
    siti = create_user(runtime, db, username="siti")
    issued = issue_code(env.runtime, client, siti, scope="openid offline_access")

    def redeem(_: int) -> int:
        http = TestClient(build_app(env.runtime))  # a connection of its own per caller
        r = http.post("/token", data=code_form(issued), auth=(client.client_id, secret))
        return r.status_code

    statuses = at_once(20, redeem)
    assert sorted(statuses) == [200] + [400] * 19
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(RefreshToken)) == 1
        grant = s.get(Grant, issued.grant_id)
        assert grant is not None and grant.revoked_at is not None  # the replays revoked it


def test_a_refresh_token_used_ten_times_at_once_has_one_winner(
    backend: str, runtime: Runtime, db: Session
) -> None:
    """Moved from tests/security/test_races.py."""
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


def test_ten_parallel_polls_of_an_approved_code_exactly_one_wins(
    backend: str, app: FastAPI, http: TestClient, runtime: Runtime, db: Session
) -> None:
    """Moved from tests/oauth/test_device.py."""
    postgres_only(backend)
    tv, secret = create_client(
        runtime,
        db,
        name="Hotspot TV",
        public=True,
        redirect_uris=[],
        grant_types=[DEVICE_GRANT, "refresh_token"],
        scope="openid profile offline_access",
    )
    assert secret is None
    siti: User = create_user(runtime, db, username="siti")
    assert siti.id
    body = started(http, tv, scope="openid offline_access")
    with TestClient(app, base_url=ISSUER) as phone:
        approve(phone, body["user_code"])

    def redeem(_: int) -> int:
        device = TestClient(app, base_url=ISSUER)
        return int(poll(device, body["device_code"], tv).status_code)

    statuses = at_once(10, redeem)
    assert sorted(statuses) == [200] + [400] * 9
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(RefreshToken)) == 1
        assert _events(s, "token.issued") == 1


def test_a_consent_form_submitted_twice_at_once_gives_one_code(
    backend: str, http: TestClient, runtime: Runtime, db: Session
) -> None:
    """Moved from tests/security/test_races.py (interactions are finished once)."""
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
