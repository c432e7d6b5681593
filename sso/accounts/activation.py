"""Activation links: the first password of a person an admin made (one by one or by import).

An activation link is a set-password link of its own kind (``account_activation``): valid
7 days (a reset link: 30 minutes) because it waits in the inbox of someone who did not ask for
it, single-use (the same atomic consume as a reset link), and only for an account that has no
password yet: once the person has one (by this link, a newer link or "forgot password") every
activation link of theirs is dead. Opening it also proves control of the mailbox, so the email
becomes verified. A newer link voids the older unused ones of the same person.

The token exists only in the mail; the database keeps its keyed hash (purpose ``activation``,
so a reset link's token can never pass for an activation link or the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from sso.accounts import policy
from sso.accounts.mail import Mail
from sso.accounts.messages import compose_message
from sso.accounts.passwords import PasswordHasher
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.core.errors import DomainError
from sso.core.events import Event
from sso.db.models import User
from sso.db.models.account_tokens import ACCOUNT_ACTIVATION
from sso.storage import account_tokens as token_repo
from sso.storage import audit
from sso.storage import users as user_repo

ACTIVATION_LIFETIME = timedelta(days=7)
ACTIVATION_PATH = "/account/activate"
TOKEN_PURPOSE = "activation"
MAX_TOKEN = 200

USER_ACTIVATION_LINK_SENT = Event.USER_ACTIVATION_LINK_SENT
USER_ACTIVATED = Event.USER_ACTIVATED

_TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "subject": "Aktifkan akun Tangsel SSO Anda",
        "body": (
            "Akun Tangsel SSO Anda telah dibuat oleh admin Pemerintah Kota Tangerang Selatan. "
            "Nama pengguna Anda: {username}. Buka tautan di bawah ini untuk membuat kata sandi "
            "dan mengaktifkan akun. Tautan berlaku {days} hari dan hanya dapat dipakai sekali."
        ),
        "button": "Buat kata sandi",
        "ignore": "Jika Anda bukan pegawai yang dimaksud, abaikan email ini.",
    },
    "en": {
        "subject": "Activate your Tangsel SSO account",
        "body": (
            "An admin of the City Government of South Tangerang has made a Tangsel SSO account "
            "for you. Your username: {username}. Open the link below to choose a password and "
            "activate the account. The link is valid for {days} days and works once."
        ),
        "button": "Choose a password",
        "ignore": "If you are not the person meant, ignore this email.",
    },
}


class ActivationLinkInvalid(DomainError):
    """Unknown, expired, used or voided link, or an account that has a password already."""

    status_code = 400

    def __init__(self, status: str) -> None:
        super().__init__("activation.invalid", detail=f"activation link {status}")
        self.status = status


def token_hash(settings: Settings, token: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), token, TOKEN_PURPOSE)


def activation_mail(locale: str, user: User, link: str) -> Mail:
    lang = locale if locale in _TEXTS else "id"
    t = _TEXTS[lang]
    days = str(ACTIVATION_LIFETIME.days)
    assert user.email is not None
    return compose_message(
        lang,
        user.email,
        user.display_name or user.username,
        t["subject"],
        [
            t["body"].format(username=user.username, days=days),
            (t["button"], link),
            t["ignore"],
        ],
        "account_activation",
    )


@dataclass(frozen=True)
class NewLink:
    """A link made for one person: the row to store and the mail to send."""

    row: dict[str, object]
    mail: Mail


def new_link(settings: Settings, user: User, at: datetime, locale: str | None = None) -> NewLink:
    """A fresh link for ``user`` (not stored: bulk senders insert many rows at once)."""
    token = random_token(TOKEN_PURPOSE)
    row: dict[str, object] = {
        "token_hash": token_hash(settings, token),
        "kind": ACCOUNT_ACTIVATION,
        "user_id": user.id,
        "email": user.email_normalized,
        "created_at": at,
        "expires_at": at + ACTIVATION_LIFETIME,
        "consumed_at": None,
        "voided_at": None,
    }
    link = f"{settings.issuer_url}{ACTIVATION_PATH}?token={token}"
    return NewLink(row, activation_mail(locale or user.locale or "id", user, link))


def can_activate(user: User) -> bool:
    return user.is_active and bool(user.email) and user.password is None


def issue(session: Session, settings: Settings, user: User, *, actor_id: str | None) -> Mail:
    """One link for one person (older unused ones voided); flushes, the caller commits and
    sends the mail after responding."""
    if not can_activate(user):
        raise DomainError("admin.activation.not_possible")
    token_repo.void_unused(session, user.id, ACCOUNT_ACTIVATION)
    link = new_link(settings, user, now())
    token_repo.add(
        session,
        kind=ACCOUNT_ACTIVATION,
        token_hash=str(link.row["token_hash"]),
        user_id=user.id,
        email=user.email_normalized,
        expires_at=now() + ACTIVATION_LIFETIME,
    )
    audit.record(
        session, USER_ACTIVATION_LINK_SENT, actor_id=actor_id, target_type="user", target_id=user.id
    )
    return link.mail


def _holder(session: Session, settings: Settings, token: str) -> User:
    if not token or len(token) > MAX_TOKEN:
        raise ActivationLinkInvalid("unknown")
    state = token_repo.peek(session, ACCOUNT_ACTIVATION, token_hash(settings, token))
    if state.status != "ok" or state.row is None:
        raise ActivationLinkInvalid(state.status)
    user = user_repo.get(session, state.row.user_id)
    if user is None or not user.is_active or user.email_normalized != state.row.email:
        raise ActivationLinkInvalid("stale")
    if user.password is not None:
        raise ActivationLinkInvalid("activated")
    return user


def check_link(session: Session, settings: Settings, token: str) -> str:
    """The kind of person ("staff"/"citizen") a usable link is for; ActivationLinkInvalid."""
    return _holder(session, settings, token).kind


def activate(
    session: Session, hasher: PasswordHasher, settings: Settings, token: str, password: str
) -> str:
    """Set the first password with an activation link; returns the user id. Raises
    ActivationLinkInvalid or PasswordRefused (the link stays usable then). The caller commits.
    The password is hashed with no transaction open."""
    user = _holder(session, settings, token)
    user_id = user.id
    policy.enforce(
        password,
        kind=user.kind,
        identifiers=policy.identifiers_of(
            user.username_normalized, user.email_normalized, user.nip
        ),
    )
    session.rollback()
    password_hash = hasher.hash(password)
    state = token_repo.consume(session, ACCOUNT_ACTIVATION, token_hash(settings, token))
    if state.status != "ok" or state.row is None:
        raise ActivationLinkInvalid(state.status)  # another submission of the link won
    user = _fresh(session, user_id)
    if user.password is not None:
        raise ActivationLinkInvalid("activated")
    user_repo.set_password_hash(session, user.id, password_hash, now())
    if not user.email_verified and user.email_normalized == state.row.email:
        user.email_verified = True  # the link proved control of the mailbox
    session.flush()
    token_repo.void_unused(session, user.id, ACCOUNT_ACTIVATION)
    audit.record(session, USER_ACTIVATED, actor_id=user.id, target_type="user", target_id=user.id)
    return user.id


def _fresh(session: Session, user_id: str) -> User:
    user = session.get(User, user_id, populate_existing=True)
    if user is None or not user.is_active:
        raise ActivationLinkInvalid("stale")
    return user
