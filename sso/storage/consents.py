"""Remembered consents, one row per person and client."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.db.models import Consent


def get(session: Session, user_id: str, client_id: str) -> Consent | None:
    return session.scalar(
        select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )


def grant(session: Session, user_id: str, client_id: str, scopes: list[str]) -> Consent:
    """Add ``scopes`` to the remembered consent (a double-submitted form is harmless)."""
    row = get(session, user_id, client_id)
    if row is None:
        try:
            with session.begin_nested():
                row = Consent(user_id=user_id, client_id=client_id, scopes=sorted(set(scopes)))
                session.add(row)
            return row
        except IntegrityError:
            row = get(session, user_id, client_id)
            assert row is not None
    row.scopes = sorted(set(row.scopes) | set(scopes))
    session.flush()
    return row


def of_user(session: Session, user_id: str) -> Sequence[Consent]:
    return session.scalars(select(Consent).where(Consent.user_id == user_id)).all()


def revoke(session: Session, user_id: str, client_id: str) -> None:
    session.execute(
        delete(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
