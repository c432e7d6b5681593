"""Parked authorization requests (interactions)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import AuthorizationRequest


def add(session: Session, row: AuthorizationRequest) -> AuthorizationRequest:
    session.add(row)
    session.flush()
    return row


def get(session: Session, id_hash: str) -> AuthorizationRequest | None:
    return session.get(AuthorizationRequest, id_hash)


def consume(session: Session, id_hash: str) -> bool:
    """Atomically finish an interaction; True for the one caller that did."""
    t = now()
    result = session.execute(
        update(AuthorizationRequest)
        .where(
            AuthorizationRequest.id_hash == id_hash,
            AuthorizationRequest.consumed_at.is_(None),
            AuthorizationRequest.expires_at > t,
        )
        .values(consumed_at=t)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
