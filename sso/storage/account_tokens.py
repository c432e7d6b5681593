"""Single-use account tokens (email verification, password reset), stored by keyed hash.

``consume`` is :mod:`sso.storage.single_use`'s one conditional UPDATE: of any number of
concurrent redemptions of one link, exactly one wins, on every backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import AccountToken
from sso.storage.single_use import SingleUse


def add(
    session: Session,
    *,
    kind: str,
    token_hash: str,
    user_id: str,
    expires_at: datetime,
    email: str | None = None,
) -> AccountToken:
    row = AccountToken(
        token_hash=token_hash, kind=kind, user_id=user_id, email=email, expires_at=expires_at
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class TokenState:
    row: AccountToken | None
    # "ok" (usable / just consumed), "unknown", "expired", "used" or "voided"
    status: str


def _state(row: AccountToken | None, kind: str, at: datetime) -> TokenState:
    if row is None or row.kind != kind:
        return TokenState(None, "unknown")
    if row.voided_at is not None:
        return TokenState(row, "voided")
    if row.consumed_at is not None:
        return TokenState(row, "used")
    if row.expires_at <= at:
        return TokenState(row, "expired")
    return TokenState(row, "ok")


def peek(session: Session, kind: str, token_hash: str) -> TokenState:
    """What a token is now, without spending it (to show the form a reset link opens)."""
    row = session.get(AccountToken, token_hash, populate_existing=True)
    return _state(row, kind, now())


def consume(session: Session, kind: str, token_hash: str) -> TokenState:
    """Atomically spend a token; ``ok`` for exactly one caller, else why not."""
    t = now()
    spent = TOKENS.consume_row(session, token_hash, at=t, kind=kind)
    if spent.ok:
        return TokenState(spent.row, "ok")
    return _state(spent.row, kind, t)  # a voided link says "voided", not "refused"


# A token of another kind is unknown; a voided one (a newer link of its kind was sent) refused.
TOKENS = SingleUse(
    AccountToken, "token_hash", match=("kind",), guards=(AccountToken.voided_at.is_(None),)
)


def void_unused(session: Session, user_id: str, kind: str, *, keep: str | None = None) -> int:
    """Void a person's unspent tokens of ``kind`` (all but ``keep``); returns how many."""
    stmt = update(AccountToken).where(
        AccountToken.user_id == user_id,
        AccountToken.kind == kind,
        AccountToken.consumed_at.is_(None),
        AccountToken.voided_at.is_(None),
    )
    if keep is not None:
        stmt = stmt.where(AccountToken.token_hash != keep)
    result = session.execute(
        stmt.values(voided_at=now()).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_expired(session: Session, before: datetime) -> int:
    """Garbage collection: tokens that expired before ``before`` (spent and voided ones
    included: they expire within a day too, and are kept until then so a second click on a
    verification link can still say "already verified")."""
    result = session.execute(delete(AccountToken).where(AccountToken.expires_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
