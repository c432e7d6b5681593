"""Parked authorization requests (interactions), finished once (:mod:`sso.storage.single_use`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import AuthorizationRequest, Client
from sso.storage.single_use import SingleUse


def add(session: Session, row: AuthorizationRequest) -> AuthorizationRequest:
    session.add(row)
    session.flush()
    return row


def get(session: Session, id_hash: str) -> AuthorizationRequest | None:
    return session.get(AuthorizationRequest, id_hash)


def get_with_client(session: Session, id_hash: str) -> tuple[AuthorizationRequest, Client] | None:
    """The parked request and its client in one joined read (each step of a login opens the
    interaction: one round trip instead of two). None when either is missing."""
    row = session.execute(
        select(AuthorizationRequest, Client)
        .join(Client, Client.client_id == AuthorizationRequest.client_id)
        .where(AuthorizationRequest.id_hash == id_hash)
    ).first()
    return (row[0], row[1]) if row is not None else None


def consume(session: Session, id_hash: str) -> bool:
    """Atomically finish an interaction; True for the one caller that did."""
    return INTERACTIONS.try_consume(session, id_hash)


INTERACTIONS = SingleUse(AuthorizationRequest, "id_hash")
