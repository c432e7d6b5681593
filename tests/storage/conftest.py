"""Fixtures of the storage contract suite: every test runs on SQLite and, with
``SSO_TEST_POSTGRES_URL`` set, on PostgreSQL (the ``runtime`` fixture of tests/conftest.py:
schema by Alembic, tables emptied between tests), with the one clock frozen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from sso.core.clock import FrozenClock, set_clock
from sso.db.models import UpstreamProvider
from sso.runtime import Runtime
from sso.storage import grants, upstreams
from tests.factories import create_user
from tests.storage.kinds import KINDS, Kind, Parents


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock()
    previous = set_clock(frozen)
    try:
        yield frozen
    finally:
        set_clock(previous)


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessions() as s:
        yield s


@pytest.fixture
def parents(runtime: Runtime, session: Session, clock: FrozenClock) -> Parents:
    """A person, a grant of theirs and an upstream: what single-use rows point at."""
    user = create_user(runtime, session, username="siti")
    grant = grants.create_grant(session, client_id="client", user_id=user.id, scope="openid")
    upstream = upstreams.add(
        session,
        UpstreamProvider(
            slug="google",
            name="Google",
            issuer="https://accounts.google.com",
            client_id="upstream-client",
            client_secret_encrypted="encrypted",
        ),
    )
    session.commit()
    return Parents(user.id, grant.id, upstream.id)


@pytest.fixture(params=KINDS, ids=[k.name for k in KINDS])
def kind(request: pytest.FixtureRequest) -> Kind:
    chosen: Kind = request.param
    return chosen
