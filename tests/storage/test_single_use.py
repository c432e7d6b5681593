"""The storage contract of single-use rows (after dex's storage/conformance): every kind
(:data:`tests.storage.kinds.KINDS`) passes every test here, on SQLite and on PostgreSQL.

Create, get, spend once (``ok``), spend again (``reused``), spend after expiry (``expired``),
spend what was never made (``unknown``); garbage collection removes expired rows and leaves
live ones; aware datetimes round-trip as UTC. Races with real threads: tests/storage/test_races.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from sso.core.clock import FrozenClock, set_clock
from sso.db.models import AccountToken, DeviceAuthorization
from sso.db.models.account_tokens import ACCOUNT_ACTIVATION, PASSWORD_RESET
from sso.db.models.devices import APPROVED, CONSUMED, PENDING
from sso.runtime import Runtime
from sso.storage import account_tokens, devices, gc, grants, mfa
from sso.storage.single_use import Outcome, outcome_of
from tests.storage.kinds import Kind, Parents, new_key

LIFE = timedelta(minutes=10)
WIB = timezone(timedelta(hours=7), "WIB")  # Asia/Jakarta: the clock of the people served


def _fresh(runtime: Runtime) -> Session:
    return runtime.sessions()


def test_create_and_get(kind: Kind, session: Session, parents: Parents, clock: FrozenClock) -> None:
    key = new_key()
    kind.add(session, parents, key, clock.now() + LIFE)
    session.commit()
    row = kind.get(session, key)
    assert row is not None
    assert row.consumed_at is None
    assert row.expires_at == clock.now() + LIFE
    assert kind.get(session, new_key()) is None


def test_spent_once_then_reused(
    kind: Kind, runtime: Runtime, session: Session, parents: Parents, clock: FrozenClock
) -> None:
    key = new_key()
    kind.add(session, parents, key, clock.now() + LIFE)
    session.commit()
    assert kind.consume(session, key) is Outcome.OK
    session.commit()
    clock.advance(1)
    with _fresh(runtime) as other:  # another request, another connection
        assert kind.consume(other, key) is Outcome.REUSED
        assert kind.why_not(other, key) is Outcome.REUSED  # asking again changes nothing
        other.commit()
        row = kind.get(other, key)
        assert row.consumed_at == clock.now() - timedelta(seconds=1)  # the first spend's time


def test_a_rolled_back_spend_leaves_the_row_unspent(
    kind: Kind, session: Session, parents: Parents, clock: FrozenClock
) -> None:
    key = new_key()
    kind.add(session, parents, key, clock.now() + LIFE)
    session.commit()
    assert kind.consume(session, key) is Outcome.OK
    session.rollback()
    assert kind.consume(session, key) is Outcome.OK


def test_expired(kind: Kind, session: Session, parents: Parents, clock: FrozenClock) -> None:
    key = new_key()
    kind.add(session, parents, key, clock.now() + LIFE)
    session.commit()
    clock.advance(LIFE.total_seconds())  # expiry is exclusive: at expires_at it is dead
    assert kind.consume(session, key) is Outcome.EXPIRED
    assert kind.get(session, key).consumed_at is None


def test_unknown(kind: Kind, session: Session, parents: Parents) -> None:
    assert kind.consume(session, new_key()) is Outcome.UNKNOWN
    assert kind.why_not(session, new_key()) is Outcome.UNKNOWN


def test_reused_wins_over_expired(
    kind: Kind, session: Session, parents: Parents, clock: FrozenClock
) -> None:
    """A spent row presented after its expiry is still a replay (a code's replay revokes)."""
    key = new_key()
    kind.add(session, parents, key, clock.now() + LIFE)
    session.commit()
    assert kind.consume(session, key) is Outcome.OK
    session.commit()
    clock.advance(LIFE.total_seconds() + 1)
    assert kind.why_not(session, key) is Outcome.REUSED


def test_gc_removes_expired_rows_and_leaves_live_and_spent_ones(
    kind: Kind, session: Session, parents: Parents, clock: FrozenClock
) -> None:
    expired, live, spent = new_key(), new_key(), new_key()
    kind.add(session, parents, expired, clock.now() + timedelta(minutes=1))
    long = clock.now() + gc.REPLAY_MEMORY + timedelta(hours=2)
    kind.add(session, parents, live, long)
    kind.add(session, parents, spent, long)
    session.commit()
    assert kind.consume(session, spent) is Outcome.OK
    session.commit()
    # Past the expiry and the replay memory every kind keeps spent rows for.
    clock.advance((timedelta(minutes=1) + gc.REPLAY_MEMORY + timedelta(minutes=1)).total_seconds())
    counts = gc.collect(session)
    session.commit()
    assert sum(counts.values()) >= 1
    assert kind.get(session, expired) is None
    assert kind.get(session, live) is not None
    assert kind.get(session, spent) is not None
    assert kind.consume(session, expired) is Outcome.UNKNOWN
    assert kind.consume(session, spent) is Outcome.REUSED  # a replay is still told apart
    assert kind.consume(session, live) is Outcome.OK


def test_aware_datetimes_round_trip_as_utc(
    kind: Kind, runtime: Runtime, session: Session, parents: Parents, clock: FrozenClock
) -> None:
    """Given in Jakarta time, read back as the same instant in UTC, on both backends; the
    expiry compares as an instant whatever zone the clock speaks."""
    clock = FrozenClock(datetime(2026, 12, 7, 23, 59, 30, 123456, tzinfo=WIB))  # 16:59:30 UTC
    set_clock(clock)  # the fixture puts the real clock back
    expires_wib = datetime(2026, 12, 8, 0, 4, 30, 654321, tzinfo=WIB)
    key = new_key()
    kind.add(session, parents, key, expires_wib)
    session.commit()
    with _fresh(runtime) as other:
        row = kind.get(other, key)
        assert row.expires_at == expires_wib
        assert row.expires_at.tzinfo is UTC
        assert row.expires_at.hour == 17 and row.expires_at.microsecond == 654321
        assert kind.consume(other, key) is Outcome.OK
        other.commit()
    with _fresh(runtime) as other:
        row = kind.get(other, key)
        assert row.consumed_at == clock.now() and row.consumed_at.tzinfo is UTC
        assert row.consumed_at == datetime(2026, 12, 7, 16, 59, 30, 123456, tzinfo=UTC)


def test_the_statements_run_on_a_plain_connection(
    kind: Kind, runtime: Runtime, session: Session, parents: Parents, clock: FrozenClock
) -> None:
    """What a path without an ORM session (an async token endpoint) executes: the same UPDATE
    and, when it changed nothing, the same SELECT."""
    key = new_key()
    kind.add(session, parents, key, clock.now() + LIFE)
    session.commit()
    params = kind.spec.params(key, **kind.match)
    with runtime.engine.begin() as conn:
        assert conn.execute(kind.spec.spend, params).rowcount == 1
    with runtime.engine.begin() as conn:
        assert conn.execute(kind.spec.spend, params).rowcount == 0
        consumed_at, expires_at = conn.execute(kind.spec.why, params).one()
    assert outcome_of(consumed_at, expires_at, clock.now()) is Outcome.REUSED
    assert consumed_at == clock.now()


def test_a_naive_datetime_is_refused(kind: Kind, session: Session, parents: Parents) -> None:
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        kind.add(session, parents, new_key(), datetime(2026, 12, 7, 12, 0))  # noqa: DTZ001
    session.rollback()


def test_outcome_of() -> None:
    t = datetime(2026, 12, 7, tzinfo=UTC)
    assert outcome_of(t, t + LIFE, t) is Outcome.REUSED
    assert outcome_of(t, t - LIFE, t) is Outcome.REUSED
    assert outcome_of(None, t, t) is Outcome.EXPIRED
    assert outcome_of(None, t + LIFE, t) is Outcome.REFUSED
    # A str: services compare it with the strings they used before it.
    assert isinstance(Outcome.OK, str) and f"{Outcome.REUSED}" == "reused"


def test_match_columns_are_required(session: Session) -> None:
    with pytest.raises(TypeError):
        account_tokens.TOKENS.consume_once(session, new_key())


# ---------------------------------------------------------------------------- kinds' own guards


def test_an_account_token_of_another_kind_is_unknown(
    session: Session, parents: Parents, clock: FrozenClock
) -> None:
    key = new_key()
    account_tokens.add(
        session,
        kind=PASSWORD_RESET,
        token_hash=key,
        user_id=parents.user_id,
        expires_at=clock.now() + LIFE,
    )
    session.commit()
    state = account_tokens.consume(session, ACCOUNT_ACTIVATION, key)
    assert (state.status, state.row) == ("unknown", None)
    assert account_tokens.consume(session, PASSWORD_RESET, key).status == "ok"
    assert account_tokens.consume(session, PASSWORD_RESET, key).status == "used"


def test_a_voided_account_token_says_voided(
    session: Session, parents: Parents, clock: FrozenClock
) -> None:
    old, new = new_key(), new_key()
    for key in (old, new):
        account_tokens.add(
            session,
            kind=PASSWORD_RESET,
            token_hash=key,
            user_id=parents.user_id,
            expires_at=clock.now() + LIFE,
        )
    assert account_tokens.void_unused(session, parents.user_id, PASSWORD_RESET, keep=new) == 1
    session.commit()
    assert account_tokens.consume(session, PASSWORD_RESET, old).status == "voided"
    assert account_tokens.TOKENS.consume_once(session, old, kind=PASSWORD_RESET) is Outcome.REFUSED
    clock.advance(LIFE.total_seconds())
    assert account_tokens.consume(session, PASSWORD_RESET, old).status == "voided"
    row = session.get(AccountToken, old)
    assert row is not None and row.consumed_at is None


def test_a_webauthn_challenge_of_another_purpose_is_not_spent(
    session: Session, parents: Parents, clock: FrozenClock
) -> None:
    from sso.db.models import WebAuthnChallenge

    key = new_key()
    mfa.add_challenge(
        session,
        WebAuthnChallenge(
            handle_hash=key,
            purpose="register",
            user_id=parents.user_id,
            challenge="c",
            data={"x": 1},
            expires_at=clock.now() + LIFE,
        ),
    )
    session.commit()
    assert mfa.consume_challenge(session, key, "authenticate") is None
    row = mfa.consume_challenge(session, key, "register")
    assert row is not None and row.data == {"x": 1} and row.consumed_at == clock.now()
    assert mfa.consume_challenge(session, key, "register") is None


def test_a_revoked_refresh_token_is_refused_not_reused(
    session: Session, parents: Parents, clock: FrozenClock
) -> None:
    grant = grants.get_grant(session, parents.grant_id)
    assert grant is not None
    key = new_key()
    grants.add_refresh_token(session, token_hash=key, grant=grant, scope="openid", lifetime=600)
    assert grants.revoke_grant(session, grant.id)
    session.commit()
    assert grants.consume_refresh_token(session, key) == grants.REVOKED
    assert grants.REFRESH_TOKENS.consume_once(session, key) is Outcome.REFUSED
    row = grants.get_refresh_token(session, key)
    assert row is not None and row.consumed_at is None


@pytest.mark.parametrize("status", [PENDING, "denied"])
def test_a_device_request_not_approved_is_not_redeemed(
    status: str, session: Session, parents: Parents, clock: FrozenClock
) -> None:
    key = new_key()
    assert devices.add(
        session,
        DeviceAuthorization(
            device_code_hash=key,
            user_code_hash=new_key(),
            client_id="tv",
            scope="openid",
            status=status,
            expires_at=clock.now() + LIFE,
        ),
    )
    session.commit()
    assert devices.consume(session, key) is False
    assert devices.APPROVED_REQUESTS.consume_once(session, key) is Outcome.REFUSED
    row = devices.get(session, key)
    assert row is not None and row.status == status and row.consumed_at is None


def test_a_redeemed_device_request_is_consumed(
    session: Session, parents: Parents, clock: FrozenClock
) -> None:
    key = new_key()
    assert devices.add(
        session,
        DeviceAuthorization(
            device_code_hash=key,
            user_code_hash=new_key(),
            client_id="tv",
            scope="openid",
            status=APPROVED,
            user_id=parents.user_id,
            grant_id=parents.grant_id,
            expires_at=clock.now() + LIFE,
        ),
    )
    session.commit()
    assert devices.consume(session, key) is True
    row = devices.get(session, key)
    assert row is not None and row.status == CONSUMED and row.consumed_at == clock.now()
    assert devices.consume(session, key) is False
