"""Signing key repository: the only module that builds queries on ``signing_keys``.

A key moves ``next -> active -> retired`` and never back. A key is *published* (in the JWKS)
while it is ``next`` or ``active``, and while it is ``retired`` with ``unpublish_at`` in the
future. State changes are conditional updates (``WHERE state = <expected>``) so a transition that
raced with another one changes nothing and is reported, instead of silently overwriting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, false, or_, select, text, update
from sqlalchemy.orm import Session

from sso.db.models.keys import SigningKey

NEXT = "next"
ACTIVE = "active"
RETIRED = "retired"

# One constant for pg_advisory_xact_lock: every process that changes the key set takes it, so
# "check, then create" cannot interleave between processes. Any fixed 64-bit value works as
# long as no other feature reuses it.
KEY_SET_LOCK_ID = 0x5A17_6B3E_0C41_2D97


class KeyState(NamedTuple):
    """The few columns that tell whether the published key set changed."""

    kid: str
    alg: str
    state: str


class KeyRow(NamedTuple):
    """A published key as the key cache needs it (plain values, not session-bound objects)."""

    kid: str
    alg: str
    state: str
    public_jwk: dict[str, Any]
    private_key_encrypted: str
    created_at: datetime
    activated_at: datetime | None


def _published(now: datetime) -> ColumnElement[bool]:
    return or_(
        SigningKey.state.in_((NEXT, ACTIVE)),
        and_(SigningKey.state == RETIRED, SigningKey.unpublish_at > now),
    )


def lock_key_set(session: Session) -> None:
    """Serialise changes of the key set until the end of the current transaction.

    Call it before the transaction reads anything. PostgreSQL: a transaction-scoped advisory
    lock (released by COMMIT or ROLLBACK). SQLite: a write that changes nothing, which takes
    the database's single write lock, waiting for it (busy_timeout) if another writer holds it;
    a transaction that had read first could not wait, only fail, when another writer committed
    in between (SQLITE_BUSY_SNAPSHOT).
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": KEY_SET_LOCK_ID})
    elif conn.dialect.name == "sqlite":
        conn.execute(update(SigningKey).where(false()).values(kid=SigningKey.kid))


def published_states(session: Session, now: datetime) -> list[KeyState]:
    """kid, alg and state of every published key, ordered by kid (a cheap change check)."""
    rows = session.execute(
        select(SigningKey.kid, SigningKey.alg, SigningKey.state)
        .where(_published(now))
        .order_by(SigningKey.kid)
    )
    return [KeyState(row.kid, row.alg, row.state) for row in rows]


def published_key_rows(session: Session, now: datetime) -> list[KeyRow]:
    """Every published key (next, active, retired but not yet unpublished), as plain rows."""
    rows = session.execute(
        select(
            SigningKey.kid,
            SigningKey.alg,
            SigningKey.state,
            SigningKey.public_jwk,
            SigningKey.private_key_encrypted,
            SigningKey.created_at,
            SigningKey.activated_at,
        )
        .where(_published(now))
        .order_by(SigningKey.created_at, SigningKey.kid)
    )
    return [KeyRow(*row) for row in rows]


# Sessions keep objects after commit (expire_on_commit=False): the management queries below
# overwrite what the session holds with what the database says now.
_FRESH = {"populate_existing": True}


def get(session: Session, kid: str) -> SigningKey | None:
    return session.get(SigningKey, kid, populate_existing=True)


def list_all(session: Session) -> list[SigningKey]:
    return list(
        session.scalars(
            select(SigningKey)
            .order_by(SigningKey.alg, SigningKey.created_at, SigningKey.kid)
            .execution_options(**_FRESH)
        )
    )


def in_state(session: Session, alg: str, state: str) -> list[SigningKey]:
    """Keys of ``alg`` in ``state``, most recently activated (then created) first."""
    return list(
        session.scalars(
            select(SigningKey)
            .where(SigningKey.alg == alg, SigningKey.state == state)
            .order_by(
                SigningKey.activated_at.desc().nulls_last(),
                SigningKey.created_at.desc(),
                SigningKey.kid,
            )
            .execution_options(**_FRESH)
        )
    )


def insert(session: Session, key: SigningKey) -> SigningKey:
    session.add(key)
    session.flush()
    return key


def activate(session: Session, kid: str, at: datetime) -> bool:
    """``next -> active``; False when the key was not ``next`` any more."""
    return _transition(session, kid, (NEXT,), state=ACTIVE, activated_at=at)


def retire(
    session: Session,
    kid: str,
    at: datetime,
    unpublish_at: datetime,
    from_states: Sequence[str] = (ACTIVE, NEXT),
) -> bool:
    """``-> retired``, published until ``unpublish_at``; False if not in ``from_states``."""
    return _transition(
        session, kid, tuple(from_states), state=RETIRED, retired_at=at, unpublish_at=unpublish_at
    )


def unpublish(session: Session, kid: str, at: datetime) -> bool:
    """Move ``unpublish_at`` of a retired key earlier (to ``at``); False if it is not retired."""
    return _transition(session, kid, (RETIRED,), unpublish_at=at)


def _transition(session: Session, kid: str, from_states: tuple[str, ...], **values: object) -> bool:
    result = session.execute(
        update(SigningKey)
        .where(SigningKey.kid == kid, SigningKey.state.in_(from_states))
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0) == 1)
