"""Browser login sessions and the clients each one reached."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import LoginSession, SessionClient
from sso.storage import users as user_repo


def add(session: Session, row: LoginSession) -> LoginSession:
    session.add(row)
    session.flush()
    user_repo.record_login(session, row.user_id, row.auth_time)
    return row


def get(session: Session, session_id: str) -> LoginSession | None:
    return session.get(LoginSession, session_id)


def get_by_token_hash(session: Session, token_hash: str) -> LoginSession | None:
    return session.scalar(select(LoginSession).where(LoginSession.token_hash == token_hash))


def touch(session: Session, session_id: str, at: datetime) -> None:
    session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id)
        .values(last_seen_at=at)
        .execution_options(synchronize_session=False)
    )


def end(session: Session, session_id: str) -> bool:
    result = session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.ended_at.is_(None))
        .values(ended_at=now())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def live_sessions_of_user(session: Session, user_id: str) -> Sequence[LoginSession]:
    return session.scalars(
        select(LoginSession).where(
            LoginSession.user_id == user_id,
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > now(),
        )
    ).all()


def add_client(session: Session, session_id: str, client_id: str) -> None:
    if session.get(SessionClient, (session_id, client_id)) is None:
        session.add(SessionClient(session_id=session_id, client_id=client_id))
        session.flush()


def clients_of(session: Session, session_id: str) -> list[str]:
    return list(
        session.scalars(
            select(SessionClient.client_id).where(SessionClient.session_id == session_id)
        ).all()
    )
