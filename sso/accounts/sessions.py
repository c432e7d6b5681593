"""Browser login sessions (single sign-on).

The cookie holds only a random value; the row stores its keyed hash and a separate public id
that becomes the ``sid`` claim. Every login makes a new session (no fixation). A session ends at
the first of: logout, ``session_absolute_lifetime`` after login, ``session_idle_lifetime``
without use, or the person being disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.core.events import Event, current_context
from sso.db.models import LoginSession, User
from sso.storage import audit
from sso.storage import sessions as repo

# Touching last_seen_at on every request would make every SSO hop a write; a minute of
# slack on the idle timeout is fine.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class NewSession:
    row: LoginSession
    cookie_value: str


def _hash(secret_key: bytes, cookie_value: str) -> str:
    return keyed_hash(secret_key, cookie_value, "session")


def start(
    session: Session,
    settings: Settings,
    user: User,
    *,
    amr: list[str],
    acr: str = "1",
    replaces: LoginSession | None = None,
    method: str | None = None,
    ends_by: datetime | None = None,
    idp: str | None = None,
) -> NewSession:
    """A fresh session for ``user`` (ending the browser's previous one, if any). ``method``:
    how the person logged in (``password``, ``passkey``), for the ``user.login`` event."""
    if replaces is not None:
        repo.end(session, replaces.id)
    t = now()
    cookie_value = random_token("session")
    ctx = current_context()
    row = repo.add(
        session,
        LoginSession(
            token_hash=_hash(settings.secret_key_bytes(), cookie_value),
            user_id=user.id,
            auth_time=t,
            amr=amr,
            acr=acr,
            idp=idp,
            ip=ctx.ip,
            user_agent=(ctx.user_agent or "")[:512] or None,
            last_seen_at=t,
            # A grace login (acr "0") ends with its grace (``ends_by``).
            expires_at=min(
                t + timedelta(seconds=settings.session_absolute_lifetime),
                ends_by or t + timedelta(seconds=settings.session_absolute_lifetime),
            ),
        ),
    )
    audit.record(
        session,
        Event.USER_LOGIN,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        session_id=row.id,
        amr=amr,
        **({"method": method} if method else {}),
    )
    return NewSession(row, cookie_value)


def resolve(
    session: Session, settings: Settings, cookie_value: str | None
) -> tuple[LoginSession, User] | None:
    """The live session and its active user for a cookie value, else None."""
    if not cookie_value or len(cookie_value) > 200:
        return None
    found = repo.get_with_user(session, _hash(settings.secret_key_bytes(), cookie_value))
    if found is None:
        return None
    row, user = found
    if not is_live(row, settings) or not user.is_active:
        return None
    t = now()
    if t - row.last_seen_at > TOUCH_INTERVAL:
        repo.touch(session, row.id, t)
    return row, user


def is_live(row: LoginSession, settings: Settings) -> bool:
    t = now()
    return (
        row.ended_at is None
        and row.expires_at > t
        and row.last_seen_at + timedelta(seconds=settings.session_idle_lifetime) > t
    )


def end(session: Session, row: LoginSession, *, reason: str = "logout") -> bool:
    ended = repo.end(session, row.id)
    if ended:
        audit.record(
            session,
            Event.SESSION_ENDED,
            actor_id=row.user_id,
            target_type="session",
            target_id=row.id,
            reason=reason,
        )
    return ended


def upgrade(session: Session, row: LoginSession, *, amr: list[str], acr: str) -> None:
    """Step-up: the person proved another factor within this session (``auth_time``, the time
    of the login itself, stays: ``max_age`` is about that)."""
    row.amr = amr
    row.acr = acr
    session.flush()
