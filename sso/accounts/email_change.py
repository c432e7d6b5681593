"""Changing the email of an account: re-verified at the NEW address before it takes effect.

1. :func:`request_change` (a logged-in person, with a recent login): a single-use link, valid 24
   hours, goes to the new address; the account keeps the old one meanwhile. A newer request
   voids the older links. When the new address belongs to another account nothing is stored
   and that address gets a note instead: the page the person sees is the same either way, so
   the form cannot be used to find out which addresses have accounts.
2. :func:`confirm_change` (the link, opened in any browser: the token is the proof of control
   of the mailbox): the address changes, is marked verified, reset links sent to the old
   address are voided, and the OLD address is told (so a hijacked session cannot quietly move
   the account away from its owner).

The link is an ``email_verification`` account token whose ``email`` is the new address; its
keyed hash uses a purpose of its own (``email_change``), so it is never accepted at
``/register/verify`` and a registration link is never accepted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.accounts import account_mail
from sso.accounts.identifiers import normalize_email
from sso.accounts.mail import Mail
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.core.errors import InvalidInput
from sso.core.events import Event
from sso.db.models import User
from sso.db.models.account_tokens import EMAIL_VERIFICATION, PASSWORD_RESET
from sso.storage import account_data, audit
from sso.storage import account_tokens as token_repo
from sso.storage import users as user_repo

CHANGE_LIFETIME = timedelta(hours=24)
CONFIRM_PATH = "/account/email/confirm"
TOKEN_PURPOSE = "email_change"
TOKEN_KIND = "verify"  # the recognisable prefix of verification links (tsso_ev_)
MAX_EMAIL = 254
MAX_TOKEN = 200


def _hash(settings: Settings, token: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), token, TOKEN_PURPOSE)


def clean_new_email(user: User, raw: str) -> tuple[str, str]:
    """(as typed and trimmed, normalised); InvalidInput when malformed or the same address."""
    typed = raw.strip()
    if len(typed) > MAX_EMAIL:
        raise InvalidInput("error.email_invalid", detail="email longer than 254 characters")
    normalized = normalize_email(typed)
    if normalized == user.email_normalized:
        raise InvalidInput("account.email_same", detail="new email equals the current one")
    return typed, normalized


def request_change(session: Session, settings: Settings, user: User, raw: str) -> list[Mail]:
    """Store a confirmation link for the new address and return the mail to send after the
    commit (InvalidInput for a bad address). Flushes; the caller commits."""
    typed, normalized = clean_new_email(user, raw)
    hours = int(CHANGE_LIFETIME.total_seconds() // 3600)
    if account_data.other_user_with_email(session, normalized, user.id) is not None:
        audit.record(
            session,
            Event.USER_EMAIL_CHANGE_REQUESTED,
            outcome="failure",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            reason="email_taken",
        )
        owner = user_repo.find_by_login(session, normalized)
        name = owner.display_name if owner is not None else typed
        locale = owner.locale if owner is not None else user.locale
        return [account_mail.address_taken(locale, typed, name)]
    token_repo.void_unused(session, user.id, EMAIL_VERIFICATION)
    token = random_token(TOKEN_KIND)
    token_repo.add(
        session,
        kind=EMAIL_VERIFICATION,
        token_hash=_hash(settings, token),
        user_id=user.id,
        email=normalized,
        expires_at=now() + CHANGE_LIFETIME,
    )
    audit.record(
        session,
        Event.USER_EMAIL_CHANGE_REQUESTED,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
    )
    link = f"{settings.issuer_url}{CONFIRM_PATH}?token={token}"
    return [account_mail.confirm_new_email(user.locale, typed, user.display_name, link, hours)]


@dataclass(frozen=True)
class Confirmation:
    # "changed", "already" (a second click: the account uses this address), "taken" (another
    # account took the address meanwhile) or "invalid" (unknown, expired, used or voided)
    status: str
    mails: tuple[Mail, ...] = ()
    user_id: str | None = None


def confirm_change(session: Session, settings: Settings, token: str) -> Confirmation:
    """Spend a confirmation link; the caller commits, then sends ``mails``."""
    if not token or len(token) > MAX_TOKEN:
        return Confirmation("invalid")
    state = token_repo.consume(session, EMAIL_VERIFICATION, _hash(settings, token))
    row = state.row
    if row is None or row.email is None:
        return Confirmation("invalid")
    user = account_data.user_for_update(session, row.user_id)
    if user is None or not user.is_active:
        return Confirmation("invalid")
    if state.status != "ok":
        if state.status == "used" and user.email_normalized == row.email:
            return Confirmation("already", user_id=user.id)
        return Confirmation("invalid")
    if user.email_normalized == row.email:
        return Confirmation("already", user_id=user.id)
    if account_data.other_user_with_email(session, row.email, user.id) is not None:
        return _taken(session, user)
    old_address = user.email
    try:
        with session.begin_nested():
            user.email = row.email
            user.email_normalized = row.email
            user.email_verified = True
            session.flush()
    except IntegrityError:  # another account took the address a moment ago
        session.refresh(user)
        return _taken(session, user)
    # Reset links went to the old address; they must not reach this account any more.
    token_repo.void_unused(session, user.id, PASSWORD_RESET)
    audit.record(
        session, Event.USER_EMAIL_CHANGED, actor_id=user.id, target_type="user", target_id=user.id
    )
    mails: tuple[Mail, ...] = ()
    if old_address:
        mails = (
            account_mail.email_changed(
                user.locale, old_address, user.display_name, account_mail.mask_email(row.email)
            ),
        )
    return Confirmation("changed", mails, user.id)


def _taken(session: Session, user: User) -> Confirmation:
    audit.record(
        session,
        Event.USER_EMAIL_CHANGED,
        outcome="failure",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        reason="email_taken",
    )
    return Confirmation("taken", user_id=user.id)
