"""Queries of the developer portal and Dynamic Client Registration (RFC 7591/7592): a
developer's own clients, clients by registration access token, initial access tokens, and the
grants a deleted client leaves behind."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import Client, Grant, InitialAccessToken


def clients_of_owner(session: Session, owner_id: str) -> Sequence[Client]:
    stmt = (
        select(Client)
        .where(Client.owner_id == owner_id)
        .order_by(Client.created_at.desc(), Client.id.desc())
    )
    return session.scalars(stmt).all()


def client_by_registration_token(session: Session, token_hash: str) -> Client | None:
    return session.scalar(select(Client).where(Client.registration_access_token_hash == token_hash))


def pending_clients(session: Session, limit: int = 200) -> Sequence[Client]:
    stmt = (
        select(Client)
        .where(Client.status == "pending")
        .order_by(Client.created_at, Client.id)
        .limit(limit)
    )
    return session.scalars(stmt).all()


def revoke_client_grants(session: Session, client_id: str) -> int:
    """Revoke every live grant of a client (its refresh and access tokens go with them)."""
    result = session.execute(
        update(Grant)
        .where(Grant.client_id == client_id, Grant.revoked_at.is_(None))
        .values(revoked_at=now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------------------- initial access tokens


def add_initial_access_token(session: Session, row: InitialAccessToken) -> InitialAccessToken:
    session.add(row)
    session.flush()
    return row


def get_initial_access_token(session: Session, token_id: int) -> InitialAccessToken | None:
    return session.get(InitialAccessToken, token_id)


def list_initial_access_tokens(session: Session, limit: int = 200) -> Sequence[InitialAccessToken]:
    stmt = select(InitialAccessToken).order_by(InitialAccessToken.id.desc()).limit(limit)
    return session.scalars(stmt).all()


def use_initial_access_token(
    session: Session, token_hash: str, at: datetime
) -> InitialAccessToken | None:
    """Count one use of a live token atomically (not revoked, not expired, uses left); the row
    on success, None otherwise. Two registrations racing for the last use: one wins."""
    table = InitialAccessToken
    result = session.execute(
        update(table)
        .where(
            table.token_hash == token_hash,
            table.revoked_at.is_(None),
            or_(table.expires_at.is_(None), table.expires_at > at),
            or_(table.max_uses.is_(None), table.uses < table.max_uses),
        )
        .values(uses=table.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return None
    row = session.scalar(select(table).where(table.token_hash == token_hash))
    if row is not None:
        session.refresh(row)
    return row


def initial_access_token_by_hash(session: Session, token_hash: str) -> InitialAccessToken | None:
    return session.scalar(
        select(InitialAccessToken).where(InitialAccessToken.token_hash == token_hash)
    )
