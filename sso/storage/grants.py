"""Grants, authorization codes, refresh tokens and revoked access tokens.

Codes and refresh tokens are spent with :mod:`sso.storage.single_use` (one conditional UPDATE),
so of two concurrent redemptions exactly one wins on every backend.

The token endpoint's hot paths (client credentials, refresh, introspection, /userinfo) use
plain Core statements here (:func:`insert_grant`, :func:`add_refresh_token`,
:func:`refresh_token_with_grant`, :func:`access_token_state`): one INSERT or one joined SELECT
each, and rows handed back as objects attached to no session (read them, never change them),
so no ORM unit of work or identity map runs per token (bench/README.md §2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, insert, select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import AuthorizationCode, Grant, RefreshToken, RevokedAccessToken, User
from sso.db.models._common import new_uuid
from sso.storage import audit
from sso.storage.single_use import Outcome, SingleUse

_grants = cast(Table, Grant.__table__)
_refresh = cast(Table, RefreshToken.__table__)
_grant_columns = tuple(_grants.columns)
_refresh_columns = tuple(c for c in _refresh.columns if c.name != "id")
# Built once: values go in as execute() parameters, so each INSERT is a compiled-cache hit
# instead of a new statement (and a new cache key) per token. The hot-path statements run on
# the session's Connection (same transaction), skipping the ORM's execute layer.
_insert_grant = insert(_grants)
_insert_refresh = insert(_refresh)
_NEW_GRANT_COLUMNS = ("id", "client_id", "user_id", "scope", "created_at")
# The audit row's parameters keep the column names (the /metrics watcher reads "event" and
# "details" from them); the grant's are prefixed.
_insert_grant_with_event = (
    insert(audit.TABLE)
    .values({c.name: bindparam(c.name) for c in audit.TABLE.columns if c.name != "id"})
    .add_cte(
        insert(_grants)
        .values({name: bindparam("g_" + name) for name in _NEW_GRANT_COLUMNS})
        .cte("new_grant")
    )
)


def create_grant(
    session: Session,
    *,
    client_id: str,
    user_id: str | None,
    scope: str,
    login_session_id: str | None = None,
    auth_time: datetime | None = None,
    amr: list[str] | None = None,
    acr: str | None = None,
    claims: dict[str, Any] | None = None,
    idp: str | None = None,
) -> Grant:
    grant = Grant(
        client_id=client_id,
        user_id=user_id,
        scope=scope,
        login_session_id=login_session_id,
        auth_time=auth_time,
        amr=amr,
        acr=acr,
        idp=idp,
        claims=claims,
    )
    session.add(grant)
    session.flush()
    return grant


def new_grant(*, client_id: str, user_id: str | None, scope: str) -> Grant:
    """A grant without a login session (client credentials), not yet written: its id is made
    here, so a token can name it before :func:`insert_grant` writes it."""
    return Grant(id=new_uuid(), client_id=client_id, user_id=user_id, scope=scope, created_at=now())


def insert_grant(session: Session, grant: Grant, event: dict[str, Any] | None = None) -> None:
    """Write :func:`new_grant`'s row as one Core INSERT, and with it the audit row ``event``
    (:func:`sso.storage.audit.event_values`): on PostgreSQL both in one statement (a
    data-modifying CTE, one round trip), elsewhere one after the other."""
    values = {name: getattr(grant, name) for name in _NEW_GRANT_COLUMNS}
    conn = session.connection()
    if event is not None and conn.dialect.name == "postgresql":
        conn.execute(
            _insert_grant_with_event, {**{"g_" + k: v for k, v in values.items()}, **event}
        )
        audit.written(session, [event])
        return
    conn.execute(_insert_grant, values)
    if event is not None:
        audit.write(session, event)


def get_grant(session: Session, grant_id: str) -> Grant | None:
    return session.get(Grant, grant_id)


def add_code(
    session: Session,
    *,
    code_hash: str,
    grant: Grant,
    redirect_uri: str | None,
    nonce: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
    lifetime: int,
) -> AuthorizationCode:
    if grant.user_id is None:
        # A code always logs a person in; a grant without one (client credentials) must never
        # reach here. An explicit check, not an assert: `python -O` strips asserts.
        raise ValueError("an authorization code needs a grant that belongs to a person")
    row = AuthorizationCode(
        code_hash=code_hash,
        client_id=grant.client_id,
        user_id=grant.user_id,
        grant_id=grant.id,
        redirect_uri=redirect_uri,
        scope=grant.scope,
        nonce=nonce,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        expires_at=now() + timedelta(seconds=lifetime),
    )
    session.add(row)
    session.flush()
    return row


def get_code(session: Session, code_hash: str) -> AuthorizationCode | None:
    return session.get(AuthorizationCode, code_hash)


@dataclass(frozen=True)
class ConsumeResult:
    code: AuthorizationCode | None
    # ok, unknown, expired or reused (already consumed: the caller revokes the grant)
    status: Outcome


def consume_code(session: Session, code_hash: str) -> ConsumeResult:
    """Atomically mark the code used. Exactly one caller ever sees ``ok`` for a code."""
    spent = CODES.consume_row(session, code_hash)
    return ConsumeResult(spent.row, spent.outcome)


CODES = SingleUse(AuthorizationCode, "code_hash")


def revoke_grant(session: Session, grant_id: str) -> bool:
    """Revoke a grant and every refresh token of it; its access tokens fail introspection."""
    t = now()
    result = session.execute(
        update(Grant)
        .where(Grant.id == grant_id, Grant.revoked_at.is_(None))
        .values(revoked_at=t)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.grant_id == grant_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=t)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def grants_of_user(session: Session, user_id: str, *, live_only: bool = True) -> Sequence[Grant]:
    stmt = select(Grant).where(Grant.user_id == user_id)
    if live_only:
        stmt = stmt.where(Grant.revoked_at.is_(None))
    return session.scalars(stmt).all()


def grants_of_session(session: Session, login_session_id: str) -> Sequence[Grant]:
    return session.scalars(
        select(Grant).where(Grant.login_session_id == login_session_id, Grant.revoked_at.is_(None))
    ).all()


def add_refresh_token(
    session: Session,
    *,
    token_hash: str,
    grant: Grant,
    scope: str,
    lifetime: int,
    expires_at: datetime | None = None,
) -> RefreshToken:
    """Insert a refresh token (one Core INSERT, executed now); ``expires_at`` (a rotated token
    keeps its family's end) wins over ``lifetime``. The returned row is attached to no session."""
    t = now()
    values: dict[str, Any] = {
        "token_hash": token_hash,
        "grant_id": grant.id,
        "client_id": grant.client_id,
        "scope": scope,
        "created_at": t,
        "expires_at": expires_at or t + timedelta(seconds=lifetime),
    }
    session.connection().execute(_insert_refresh, values)
    return RefreshToken(**values)


def get_refresh_token(session: Session, token_hash: str) -> RefreshToken | None:
    return session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


# Why a refresh token can or cannot be used (:func:`refresh_token_status`).
LIVE = "live"
REVOKED = "revoked"  # the token or its grant was revoked (logout, revocation), or its person
EXPIRED = "expired"  # cannot receive tokens any more (disabled); or its family's end passed
REUSED = "reused"  # rotated before and presented again while the grant is live: theft
UNKNOWN = "unknown"


def refresh_token_status(state: RefreshTokenState, at: datetime) -> str:
    """:data:`LIVE`, :data:`REVOKED`, :data:`EXPIRED` or :data:`REUSED`, in that precedence.

    A rotated token counts as reused only while there is something left to protect: once the
    grant is revoked, the person disabled or the family expired, every token of the family is
    dead anyway, and presenting an old one is an ordinary refusal, not an alarm."""
    token, grant = state.token, state.grant
    if token.revoked_at is not None or grant.revoked_at is not None:
        return REVOKED
    if state.user_status is not None and state.user_status != "active":
        return REVOKED
    if token.expires_at <= at:
        return EXPIRED
    if token.consumed_at is not None:
        return REUSED
    return LIVE


def consume_refresh_token(session: Session, token_hash: str) -> str:
    """Atomically mark a refresh token as rotated: :data:`LIVE` only for the one caller that
    did it; otherwise why not (:func:`refresh_token_status`, or :data:`UNKNOWN`), read after
    the failed UPDATE so a concurrent rotation is told apart from a concurrent revocation."""
    t = now()
    if REFRESH_TOKENS.try_consume(session, token_hash, at=t):
        return LIVE
    found = refresh_token_with_grant(session, token_hash)
    if found is None:
        return UNKNOWN
    status = refresh_token_status(found, t)
    # LIVE here would mean the UPDATE's and this read's views differ: refuse, quietly.
    return EXPIRED if status == LIVE else status


# Why a refused rotation was refused takes the grant and its person into account
# (:func:`refresh_token_status`), so only the primitive's UPDATE is used here.
REFRESH_TOKENS = SingleUse(RefreshToken, "token_hash", guards=(RefreshToken.revoked_at.is_(None),))


def revoke_access_token(session: Session, jti: str, expires_at: datetime) -> None:
    if session.get(RevokedAccessToken, jti) is None:
        session.add(RevokedAccessToken(jti=jti, expires_at=expires_at))
        session.flush()


def is_access_token_revoked(session: Session, jti: str) -> bool:
    return session.get(RevokedAccessToken, jti) is not None


@dataclass(frozen=True)
class RefreshTokenState:
    """A refresh token with its grant and the status of the grant's person (None without one)."""

    token: RefreshToken
    grant: Grant
    user_status: str | None


def refresh_token_with_grant(session: Session, token_hash: str) -> RefreshTokenState | None:
    """The refresh token, its grant and its person's status in one SELECT (rows attached to no
    session; use :func:`consume_refresh_token` to rotate it)."""
    row = session.connection().execute(_refresh_with_grant, {"h": token_hash}).first()
    if row is None:
        return None
    n = len(_refresh_columns)
    token = RefreshToken(**{c.name: row[i] for i, c in enumerate(_refresh_columns)})
    grant = Grant(**{c.name: row[n + i] for i, c in enumerate(_grant_columns)})
    return RefreshTokenState(token, grant, row[-1])


_users = cast(Table, User.__table__)
_refresh_with_grant = (
    select(*_refresh_columns, *_grant_columns, _users.c.status)
    .select_from(_refresh)
    .join(_grants, _grants.c.id == _refresh.c.grant_id)
    .outerjoin(_users, _users.c.id == _grants.c.user_id)
    .where(_refresh.c.token_hash == bindparam("h"))
)


@dataclass(frozen=True)
class AccessTokenState:
    """What decides whether an access token is live, besides its signature: its grant, whether
    its ``jti`` was revoked, and its person's status and username (None without one)."""

    grant: Grant
    jti_revoked: bool
    user_status: str | None
    username: str | None


def access_token_state(session: Session, grant_id: str, jti: str) -> AccessTokenState | None:
    """One SELECT: the grant (None when unknown), the revoked-``jti`` check and the person."""
    row = session.connection().execute(_access_state, {"gid": grant_id, "jti": jti}).first()
    if row is None:
        return None
    n = len(_grant_columns)
    grant = Grant(**{c.name: row[i] for i, c in enumerate(_grant_columns)})
    return AccessTokenState(grant, bool(row[n]), row[n + 1], row[n + 2])


_revoked = cast(Table, RevokedAccessToken.__table__)
_access_state = (
    select(
        *_grant_columns,
        exists().where(_revoked.c.jti == bindparam("jti")).label("jti_revoked"),
        _users.c.status,
        _users.c.username,
    )
    .select_from(_grants)
    .outerjoin(_users, _users.c.id == _grants.c.user_id)
    .where(_grants.c.id == bindparam("gid"))
)
