"""Forgotten passwords: a single-use reset link by mail, and setting a new password with it.

- ``/password/forgot`` answers the same whether or not the email has an account; only an
  active account's owner gets a link. A link is valid 30 minutes and once; a newer request
  voids the older links.
- Using the link sets the new password (the policy applies; a refused password leaves the link
  usable), ends every login session of the person and revokes every grant (so every refresh
  token, and the access tokens at introspection). Opening the link also proves control of the
  mailbox, so an unverified email becomes verified.
- Two submissions of one link at once: the conditional UPDATE lets exactly one win.

The password is hashed outside any database transaction (no connection, no SQLite write lock
held during the hash).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from sso.accounts import messages, policy
from sso.accounts import sessions as login_sessions
from sso.accounts.identifiers import normalize_email
from sso.accounts.mail import Mail
from sso.accounts.passwords import PasswordHasher
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.core.errors import DomainError, InvalidInput
from sso.core.events import Event
from sso.db.models.account_tokens import PASSWORD_RESET
from sso.storage import account_tokens as token_repo
from sso.storage import audit
from sso.storage import grants as grant_repo
from sso.storage import sessions as session_repo
from sso.storage import users as user_repo

RESET_LIFETIME = timedelta(minutes=30)
RESET_PATH = "/password/reset"
TOKEN_PURPOSE = "reset"
MAX_TOKEN = 200

USER_PASSWORD_RESET_REQUESTED = Event.USER_PASSWORD_RESET_REQUESTED
USER_PASSWORD_RESET = Event.USER_PASSWORD_RESET


class ResetLinkInvalid(DomainError):
    """Unknown, expired, already used or voided link (one message: which, helps nobody)."""

    status_code = 400

    def __init__(self, status: str) -> None:
        super().__init__("reset.invalid", detail=f"reset link {status}")
        self.status = status


def _hash(settings: Settings, token: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), token, TOKEN_PURPOSE)


def request_reset(
    session: Session, settings: Settings, email: str, locale: str, *, actor_id: str | None = None
) -> list[Mail]:
    """Mails to send (none for an unknown address); raises InvalidInput for a malformed one.
    The caller commits, answers the same page either way, and sends after responding.
    ``actor_id``: who asked, when not the person themself (an admin sending the link)."""
    normalized = normalize_email(email)
    user = user_repo.find_by_login(session, normalized)
    if user is None or not user.is_active or user.email_normalized != normalized:
        audit.record(
            session,
            USER_PASSWORD_RESET_REQUESTED,
            outcome="failure",
            actor_id=actor_id,
            reason="unknown_email" if user is None else "inactive",
        )
        return []
    token_repo.void_unused(session, user.id, PASSWORD_RESET)
    token = random_token(TOKEN_PURPOSE)
    token_repo.add(
        session,
        kind=PASSWORD_RESET,
        token_hash=_hash(settings, token),
        user_id=user.id,
        email=normalized,
        expires_at=now() + RESET_LIFETIME,
    )
    audit.record(
        session,
        USER_PASSWORD_RESET_REQUESTED,
        actor_id=actor_id or user.id,
        target_type="user",
        target_id=user.id,
    )
    if user.email is None:  # found by its normalised address, so it has one
        raise InvalidInput("error.email_invalid", detail="the account has no email address")
    minutes = int(RESET_LIFETIME.total_seconds() // 60)
    link = f"{settings.issuer_url}{RESET_PATH}?token={token}"
    return [messages.reset_mail(locale, user.email, user.display_name, link, minutes)]


@dataclass(frozen=True)
class _Holder:
    user_id: str
    kind: str
    identifiers: list[str]


def _holder(session: Session, settings: Settings, token: str) -> _Holder:
    if not token or len(token) > MAX_TOKEN:
        raise ResetLinkInvalid("unknown")
    state = token_repo.peek(session, PASSWORD_RESET, _hash(settings, token))
    if state.status != "ok" or state.row is None:
        raise ResetLinkInvalid(state.status)
    user = user_repo.get(session, state.row.user_id)
    if user is None or not user.is_active or user.email_normalized != state.row.email:
        raise ResetLinkInvalid("stale")
    return _Holder(
        user.id,
        user.kind,
        policy.identifiers_of(user.username_normalized, user.email_normalized, user.nip),
    )


def check_link(session: Session, settings: Settings, token: str) -> str:
    """The kind ("staff"/"citizen") of the person a usable link belongs to (for the form's
    length hint); raises ResetLinkInvalid. Spends nothing."""
    return _holder(session, settings, token).kind


def reset_password(
    session: Session,
    hasher: PasswordHasher,
    settings: Settings,
    token: str,
    password: str,
    *,
    end_everything: Callable[[Session, str], None] | None = None,
) -> str:
    """Set a new password with a reset link; returns the user id. Raises ResetLinkInvalid or
    PasswordRefused (the link stays usable then). Flushes; the caller commits.

    ``end_everything(session, user_id)``, when given, ends the person's sessions and grants
    (the web layer passes the OIDC one, which also notifies relying parties by back-channel
    logout); without it, sessions and grants are ended here without notifications."""
    holder = _holder(session, settings, token)
    policy.enforce(password, kind=holder.kind, identifiers=holder.identifiers)
    session.rollback()  # end the read before the slow hash (nothing was written)
    password_hash = hasher.hash(password)

    state = token_repo.consume(session, PASSWORD_RESET, _hash(settings, token))
    if state.status != "ok" or state.row is None:
        raise ResetLinkInvalid(state.status)  # another submission of the link won
    user = user_repo.get(session, holder.user_id)
    if user is None or not user.is_active:
        raise ResetLinkInvalid("stale")
    t = now()
    user_repo.set_password_hash(session, user.id, password_hash, t)
    if not user.email_verified and user.email_normalized == state.row.email:
        user.email_verified = True  # the link proved control of the mailbox
    session.flush()
    token_repo.void_unused(session, user.id, PASSWORD_RESET)
    if end_everything is not None:
        end_everything(session, user.id)
    ended = 0
    for row in session_repo.live_sessions_of_user(session, user.id):
        if login_sessions.end(session, row, reason="password_reset"):
            ended += 1
    revoked = 0
    for grant in grant_repo.grants_of_user(session, user.id):
        if grant_repo.revoke_grant(session, grant.id):
            revoked += 1
            audit.record(
                session,
                Event.GRANT_REVOKED,
                actor_id=user.id,
                target_type="grant",
                target_id=grant.id,
                client_id=grant.client_id,
                reason="password_reset",
            )
    audit.record(
        session,
        USER_PASSWORD_RESET,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        sessions_ended=ended,
        grants_revoked=revoked,
    )
    return user.id
