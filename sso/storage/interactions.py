"""Parked authorization requests (interactions), finished once (:mod:`sso.storage.single_use`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sso.db.models import AuthorizationRequest
from sso.storage.single_use import SingleUse


def add(session: Session, row: AuthorizationRequest) -> AuthorizationRequest:
    session.add(row)
    session.flush()
    return row


def get(session: Session, id_hash: str) -> AuthorizationRequest | None:
    return session.get(AuthorizationRequest, id_hash)


def consume(session: Session, id_hash: str) -> bool:
    """Atomically finish an interaction; True for the one caller that did."""
    return INTERACTIONS.try_consume(session, id_hash)


INTERACTIONS = SingleUse(AuthorizationRequest, "id_hash")
