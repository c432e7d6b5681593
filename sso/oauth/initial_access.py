"""Initial access tokens: an admin's permission to use Dynamic Client Registration (RFC 7591 §3).

Open registration would let anyone on the internet create clients; the city lets in only those
an admin gave a token to (``sso clients issue-registration-token`` or the admin console, which
call :func:`issue`). A token is shown once and stored as a keyed hash; it may expire, be limited
to a number of registrations, and be revoked. ``approve_clients`` makes the clients registered
with it ``active`` at once (the admin vouches for the holder, e.g. an agency's deployment
pipeline); by default they wait ``pending`` for review like the developer portal's apps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.core.errors import InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import InitialAccessToken
from sso.storage import audit
from sso.storage import registrations as repo

PURPOSE = "initial_access_token"
MAX_LIFETIME = 366 * 24 * 3600


@dataclass(frozen=True)
class IssuedToken:
    row: InitialAccessToken
    token: str  # shown once


def token_hash(secret_key: bytes, token: str) -> str:
    return keyed_hash(secret_key, token, PURPOSE)


def issue(
    session: Session,
    secret_key: bytes,
    *,
    actor_id: str | None = None,
    description: str = "",
    expires_in: int | None = 7 * 24 * 3600,
    max_uses: int | None = 1,
    approve_clients: bool = False,
) -> IssuedToken:
    """A new initial access token (``expires_in`` seconds, ``max_uses`` registrations; None
    means no limit)."""
    if expires_in is not None and not 0 < expires_in <= MAX_LIFETIME:
        raise InvalidInput("error.bad_request", detail="expires_in: 1 second to 1 year")
    if max_uses is not None and max_uses < 1:
        raise InvalidInput("error.bad_request", detail="max_uses must be at least 1")
    token = random_token(PURPOSE)
    row = repo.add_initial_access_token(
        session,
        InitialAccessToken(
            token_hash=token_hash(secret_key, token),
            description=description.strip()[:300],
            created_by_id=actor_id,
            expires_at=now() + timedelta(seconds=expires_in) if expires_in else None,
            max_uses=max_uses,
            uses=0,
            approve_clients=approve_clients,
        ),
    )
    audit.record(
        session,
        Event.INITIAL_ACCESS_TOKEN_ISSUED,
        actor_id=actor_id,
        target_type="initial_access_token",
        target_id=str(row.id),
        max_uses=max_uses,
        expires_at=row.expires_at.isoformat() if row.expires_at else None,
        approve_clients=approve_clients,
    )
    return IssuedToken(row, token)


def revoke(session: Session, token_id: int, *, actor_id: str | None = None) -> InitialAccessToken:
    row = repo.get_initial_access_token(session, token_id)
    if row is None:
        raise NotFound("error.not_found", detail=f"no initial access token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now()
        session.flush()
        audit.record(
            session,
            Event.INITIAL_ACCESS_TOKEN_REVOKED,
            actor_id=actor_id,
            target_type="initial_access_token",
            target_id=str(row.id),
        )
    return row


def list_tokens(session: Session) -> list[InitialAccessToken]:
    """The newest tokens first (the admin console's list)."""
    return list(repo.list_initial_access_tokens(session))


def is_usable(row: InitialAccessToken | None) -> bool:
    if row is None or row.revoked_at is not None:
        return False
    if row.expires_at is not None and row.expires_at <= now():
        return False
    return row.max_uses is None or row.uses < row.max_uses


def find(session: Session, secret_key: bytes, token: str) -> InitialAccessToken | None:
    """The live token row for ``token`` (not used up, expired or revoked), without using it."""
    if not token or len(token) > 200:
        return None
    row = repo.initial_access_token_by_hash(session, token_hash(secret_key, token))
    return row if is_usable(row) else None


def use(session: Session, secret_key: bytes, token: str) -> InitialAccessToken | None:
    """Count one registration against ``token`` atomically; None when it is not usable."""
    if not token or len(token) > 200:
        return None
    return repo.use_initial_access_token(session, token_hash(secret_key, token), now())
