"""Browser login sessions and the clients each one reached."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import LoginSession, SessionClient, User
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


def get_with_user(session: Session, token_hash: str) -> tuple[LoginSession, User] | None:
    """The session with this cookie hash and its person, in one joined read (every step of a
    login resolves the browser's session)."""
    row = session.execute(
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_hash == token_hash)
    ).first()
    return (row[0], row[1]) if row is not None else None


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
    """Note that ``client_id`` reached the session (once: a repeat is a no-op), in one
    statement instead of a read and an insert (one round trip less per code issued)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(SessionClient)
        .values(session_id=session_id, client_id=client_id, created_at=now())
        .on_conflict_do_nothing()
    )


def clients_of(session: Session, session_id: str) -> list[str]:
    return list(
        session.scalars(
            select(SessionClient.client_id).where(SessionClient.session_id == session_id)
        ).all()
    )
