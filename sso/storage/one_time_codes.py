"""One-time code challenges (:mod:`sso.db.models.one_time_codes`).

Trying a code is two conditional UPDATEs, so concurrent tries of one challenge can neither
exceed its attempts nor spend it twice, on every backend: :func:`count_attempt` takes one of the
remaining attempts (``attempts < max``, live, unspent) and returns the stored hash to compare;
:func:`consume` spends the challenge (:mod:`sso.storage.single_use`: ``consumed_at IS NULL``,
unexpired) and reports whether this call did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from sso.db.models import OneTimeCode
from sso.storage.single_use import SingleUse


def add(session: Session, row: OneTimeCode) -> OneTimeCode:
    session.add(row)
    session.flush()
    return row


def get(session: Session, challenge_id: str) -> OneTimeCode | None:
    return session.get(OneTimeCode, challenge_id, populate_existing=True)


def replace_code(
    session: Session, challenge_id: str, code_hash: str | None, t: datetime, expires_at: datetime
) -> bool:
    """A "send again": a new code (the old one stops working), new expiry, fresh attempts.
    Only for a live, unspent challenge; False otherwise."""
    c = OneTimeCode
    result = session.execute(
        update(c)
        .where(c.id == challenge_id, c.consumed_at.is_(None))
        .values(
            code_hash=code_hash, attempts=0, sends=c.sends + 1, sent_at=t, expires_at=expires_at
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def count_attempt(
    session: Session, challenge_id: str, max_attempts: int, t: datetime
) -> tuple[str | None, int] | None:
    """Take one attempt of a live, unspent challenge that has attempts left: (code hash,
    attempts now). None when it has none left, is spent, expired or unknown."""
    c = OneTimeCode
    row = session.execute(
        update(c)
        .where(
            c.id == challenge_id,
            c.consumed_at.is_(None),
            c.expires_at > t,
            c.attempts < max_attempts,
        )
        .values(attempts=c.attempts + 1)
        .returning(c.code_hash, c.attempts)
        .execution_options(synchronize_session=False)
    ).first()
    return None if row is None else (row[0], int(row[1]))


def consume(session: Session, challenge_id: str, t: datetime) -> bool:
    """Spend a live challenge (``t``: the time its attempt was counted at); True for the one
    caller that did."""
    return CHALLENGES.try_consume(session, challenge_id, at=t)


CHALLENGES = SingleUse(OneTimeCode, "id")


def void_open(
    session: Session, purpose: str, destination: str, t: datetime, keep: str | None = None
) -> None:
    """Spend every other open challenge of this purpose and destination (a newer one wins)."""
    c = OneTimeCode
    stmt = update(c).where(
        c.purpose == purpose, c.destination == destination, c.consumed_at.is_(None)
    )
    if keep is not None:
        stmt = stmt.where(c.id != keep)
    session.execute(stmt.values(consumed_at=t).execution_options(synchronize_session=False))


def set_data(session: Session, challenge_id: str, data: dict[str, Any]) -> None:
    session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.id == challenge_id)
        .values(data=data)
        .execution_options(synchronize_session=False)
    )


def open_count(session: Session, user_id: str, t: datetime) -> int:
    c = OneTimeCode
    rows = session.scalars(
        select(c.id).where(c.user_id == user_id, c.consumed_at.is_(None), c.expires_at > t)
    ).all()
    return len(rows)


def delete_expired(session: Session, before: datetime) -> int:
    result = session.execute(delete(OneTimeCode).where(OneTimeCode.expires_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
