"""Citizen self-registration and email verification.

A citizen gives a name, an email, a password and optionally a phone number. The account is
active at once but cannot log in until the email is verified through the link we mail
(``/register/verify?token=…``, valid 24 hours, single-use; see
:func:`sso.accounts.service.authenticate`, reason ``unverified``).

The username is derived from the email's local part (``siti.aminah@…`` → ``siti.aminah``,
with a random ``-1234`` suffix when that is taken) instead of being asked for: one field less to
fill in, and people log in with their email anyway. It can be changed later in the account
console.

Registration answers the same, in content and in time, whether or not the email already has an
account: every path does exactly one password hash, before touching the database, and sends one
mail after the response. When the email is taken nothing is created; its owner gets a note
instead (with a fresh verification link when that account is still unverified), so a real
owner who forgot they registered is helped and a prober learns nothing.

Concurrency: the same form submitted many times at once makes exactly one account. The email's
unique constraint decides; a losing insert (IntegrityError inside a SAVEPOINT) takes the
"already registered" path instead of failing.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.accounts import messages, policy
from sso.accounts import phone as phone_numbers
from sso.accounts.identifiers import normalize_email
from sso.accounts.mail import Mail
from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import NewUser, create_user
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.core.errors import Conflict, InvalidInput
from sso.core.events import Event
from sso.db.models import User
from sso.db.models.account_tokens import EMAIL_VERIFICATION
from sso.storage import account_tokens as token_repo
from sso.storage import audit
from sso.storage import users as user_repo

VERIFY_LIFETIME = timedelta(hours=24)
VERIFY_PATH = "/register/verify"
FORGOT_PATH = "/password/forgot"
TOKEN_PURPOSE = "verify"  # keyed-hash domain, and the token's prefix kind (PREFIXES)
MAX_NAME = 200
MAX_EMAIL = 254  # RFC 5321's limit on a path, and the column's width
MAX_TOKEN = 200
USERNAME_ATTEMPTS = 8

USER_REGISTERED = Event.USER_REGISTERED
USER_REGISTRATION_EXISTING = Event.USER_REGISTRATION_EXISTING
USER_EMAIL_VERIFIED = Event.USER_EMAIL_VERIFIED
USER_VERIFICATION_RESENT = Event.USER_VERIFICATION_RESENT


@dataclass(frozen=True)
class Registration:
    name: str
    email: str
    password: str
    phone: str | None = None
    locale: str = "id"


@dataclass(frozen=True)
class FieldError:
    field: str
    key: str
    params: dict[str, Any] = dataclass_field(default_factory=dict)


class RegistrationInvalid(InvalidInput):
    """The form has mistakes; ``errors`` says which field and why (catalogue keys)."""

    def __init__(self, errors: list[FieldError]) -> None:
        first = errors[0]
        super().__init__(
            first.key, detail="; ".join(f"{e.field}: {e.key}" for e in errors), **first.params
        )
        self.errors = errors


@dataclass(frozen=True)
class Outcome:
    """What to do after the commit: the mails to send. The page shown is the same either way."""

    mails: list[Mail]
    created: bool
    user_id: str | None = None  # the new account (None when the email was taken)


@dataclass(frozen=True)
class _Clean:
    name: str
    email: str  # as typed, trimmed
    email_normalized: str
    phone: str | None
    username_base: str


def normalize_phone(raw: str) -> str:
    """An Indonesian or international number in E.164 (``0812-3456-7890`` → ``+6281234567890``),
    see :mod:`sso.accounts.phone`."""
    return phone_numbers.normalize(raw)


def username_base(email_normalized: str) -> str:
    """A username made from the email's local part (ASCII, 3-40 of a-z 0-9 . _ -)."""
    local = email_normalized.rsplit("@", 1)[0].split("+", 1)[0]
    ascii_local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9._-]+", "", ascii_local.casefold())
    base = re.sub(r"[._-]{2,}", "-", base).strip("._-")[:40].strip("._-")
    return base if len(base) >= 3 else f"warga{base}"


def validate(reg: Registration) -> _Clean:
    """Every mistake in the form at once (RegistrationInvalid), or the cleaned values."""
    errors: list[FieldError] = []
    name = " ".join(reg.name.split())
    if not name:
        errors.append(FieldError("name", "register.name_required"))
    elif len(name) > MAX_NAME:
        errors.append(FieldError("name", "register.name_too_long", {"max": MAX_NAME}))
    email_normalized = ""
    try:
        email_normalized = normalize_email(reg.email)
        if len(reg.email.strip()) > MAX_EMAIL:
            raise InvalidInput("error.email_invalid", detail="email longer than 254 characters")
    except InvalidInput as exc:
        email_normalized = ""
        errors.append(FieldError("email", exc.message))
    phone = None
    if reg.phone and reg.phone.strip():
        try:
            phone = normalize_phone(reg.phone)
        except InvalidInput as exc:
            errors.append(FieldError("phone", exc.message))
    base = username_base(email_normalized) if email_normalized else ""
    refusal = policy.check(
        reg.password, kind="citizen", identifiers=policy.identifiers_of(base, email_normalized)
    )
    if refusal is not None:
        errors.append(FieldError("password", refusal.key, refusal.params))
    if errors:
        raise RegistrationInvalid(errors)
    return _Clean(name, reg.email.strip(), email_normalized, phone, base)


def _link(settings: Settings, path: str, token: str | None = None) -> str:
    return settings.issuer_url + path + (f"?token={token}" if token else "")


def issue_verification(session: Session, settings: Settings, user: User) -> str:
    """A new verification link for the user's current email (the token is in the link only)."""
    if user.email_normalized is None:  # nothing to verify: never a link for no address
        raise InvalidInput("error.email_invalid", detail="the account has no email address")
    token = random_token(TOKEN_PURPOSE)
    token_repo.add(
        session,
        kind=EMAIL_VERIFICATION,
        token_hash=keyed_hash(settings.secret_key_bytes(), token, TOKEN_PURPOSE),
        user_id=user.id,
        email=user.email_normalized,
        expires_at=now() + VERIFY_LIFETIME,
    )
    return _link(settings, VERIFY_PATH, token)


def _hours() -> int:
    return int(VERIFY_LIFETIME.total_seconds() // 3600)


def register_citizen(
    session: Session, hasher: PasswordHasher, settings: Settings, reg: Registration
) -> Outcome:
    """Register (or, for a taken email, notify the owner); flushes, the caller commits."""
    clean = validate(reg)
    # The one password hash of every path, before the database: the answer takes as long
    # for a taken email, and no connection or lock is held while hashing.
    password_hash = hasher.hash(reg.password)
    for attempt in range(USERNAME_ATTEMPTS):
        existing = user_repo.find_by_login(session, clean.email_normalized)
        if existing is not None:
            return _notify_owner(session, settings, existing)
        username = clean.username_base
        if attempt or user_repo.username_taken(session, username):
            username = f"{clean.username_base}-{secrets.randbelow(9000) + 1000}"
        try:
            with session.begin_nested():
                user = create_user(
                    session,
                    hasher,
                    NewUser(
                        username=username,
                        email=clean.email,
                        kind="citizen",
                        display_name=clean.name,
                        phone=clean.phone,
                        email_verified=False,
                        locale=reg.locale,
                    ),
                    None,
                )
                user_repo.set_password_hash(session, user.id, password_hash, now())
                session.flush()
        except (IntegrityError, Conflict):
            # Another request took this email (next turn finds it) or this username (next
            # turn draws another suffix).
            continue
        link = issue_verification(session, settings, user)
        audit.record(
            session, USER_REGISTERED, actor_id=user.id, target_type="user", target_id=user.id
        )
        mail = messages.verification_mail(reg.locale, clean.email, clean.name, link, _hours())
        return Outcome([mail], created=True, user_id=user.id)
    raise Conflict("error.username_taken", detail="no free username after several attempts")


def _notify_owner(session: Session, settings: Settings, owner: User) -> Outcome:
    verify_link = None
    if owner.kind == "citizen" and owner.is_active and not owner.email_verified:
        verify_link = issue_verification(session, settings, owner)
    audit.record(
        session,
        USER_REGISTRATION_EXISTING,
        outcome="failure",
        target_type="user",
        target_id=owner.id,
        reason="email_taken",
    )
    if owner.email is None:  # found by its normalised address, so it has one
        raise InvalidInput("error.email_invalid", detail="the account has no email address")
    mail = messages.existing_account_mail(
        owner.locale,
        owner.email,
        owner.display_name,
        _link(settings, FORGOT_PATH),
        verify_link,
        _hours(),
    )
    return Outcome([mail], created=False)


@dataclass(frozen=True)
class Verification:
    # "verified" (now), "already" (an earlier click did it) or "invalid"
    status: str
    user_id: str | None = None


def verify_email(session: Session, settings: Settings, token: str) -> Verification:
    """Spend a verification link; the caller commits."""
    if not token or len(token) > MAX_TOKEN:
        return Verification("invalid")
    token_hash = keyed_hash(settings.secret_key_bytes(), token, TOKEN_PURPOSE)
    state = token_repo.consume(session, EMAIL_VERIFICATION, token_hash)
    row = state.row
    if row is None:
        return Verification("invalid")
    user = user_repo.get(session, row.user_id)
    if user is None or user.email_normalized != row.email:
        return Verification("invalid")  # the address changed since the link was sent
    if state.status != "ok":
        # A mail scanner (or a second click) may have opened the link first: no harm done.
        if state.status in ("used", "voided") and user.email_verified:
            return Verification("already", user.id)
        return Verification("invalid")
    if not user.email_verified:
        user.email_verified = True
        session.flush()
    token_repo.void_unused(session, user.id, EMAIL_VERIFICATION)
    audit.record(
        session, USER_EMAIL_VERIFIED, actor_id=user.id, target_type="user", target_id=user.id
    )
    return Verification("verified", user.id)


def resend_verification(
    session: Session, settings: Settings, email: str, locale: str
) -> list[Mail]:
    """ "Kirim ulang" on the "check your email" page: a fresh link (the older ones stop working)
    for an active citizen whose address is not verified yet; nothing otherwise. The caller
    shows the same page either way and limits the requests (per address and IP)."""
    try:
        normalized = normalize_email(email[:MAX_EMAIL])
    except InvalidInput:
        return []
    user = user_repo.find_by_login(session, normalized)
    if (
        user is None
        or user.kind != "citizen"
        or not user.is_active
        or user.email_verified
        or user.email_normalized != normalized
        or user.email is None
    ):
        return []
    token_repo.void_unused(session, user.id, EMAIL_VERIFICATION)
    link = issue_verification(session, settings, user)
    audit.record(
        session, USER_VERIFICATION_RESENT, actor_id=user.id, target_type="user", target_id=user.id
    )
    return [
        messages.verification_mail(
            user.locale or locale, user.email, user.display_name, link, _hours()
        )
    ]
