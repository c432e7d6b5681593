"""OAuth clients repository."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import Client


def get_by_client_id(session: Session, client_id: str) -> Client | None:
    return session.scalar(select(Client).where(Client.client_id == client_id))


def list_all(session: Session) -> Sequence[Client]:
    return session.scalars(select(Client).order_by(Client.created_at, Client.id)).all()


def add(session: Session, client: Client) -> Client:
    session.add(client)
    session.flush()
    return client
