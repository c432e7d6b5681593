"""What a person changes about themselves in the account console: name, phone and language,
their NIK (citizens), and their password. Every change is an audit event; none of them holds a
value of the change (no name, number or NIK in the audit log), only which fields changed.

- Profile edits carry the row's ``version`` from the form: a page that was open while the
  profile changed elsewhere is refused rather than silently overwriting the newer values.
- The NIK (UU PDP personal data) is stored encrypted with ``SSO_KEY_ENCRYPTION_KEY`` plus a keyed
  hash for uniqueness, shown only masked (``3674**********01``), never logged, and always
  unverified (the city has no link to the population registry).
- A password change needs the current password (the caller counts wrong ones against the same
  guessing limits as the login form), passes the NIST policy of :mod:`sso.accounts.policy`,
  is written only if nobody changed the password meanwhile, then ends the person's other
  sessions and revokes every refresh token (see :mod:`sso.accounts.connections`).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from sso.accounts import policy
from sso.accounts.identifiers import mask_nik, validate_nik
from sso.accounts.registration import MAX_NAME, normalize_phone
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import Encryptor, keyed_hash
from sso.core.errors import Conflict, DomainError, InvalidInput
from sso.core.events import Event
from sso.db.models import User
from sso.storage import account_data, audit
from sso.storage import users as user_repo

LOCALES = ("id", "en")
NIK_PURPOSE = "nik"


class Forbidden(DomainError):
    """Not for this kind of account (e.g. a NIK or self-deletion for OPD staff)."""

    status_code = 403


@dataclass(frozen=True)
class FieldError:
    field: str
    key: str
    params: dict[str, Any] = dataclass_field(default_factory=dict)


class ProfileInvalid(InvalidInput):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors[0].key, detail="; ".join(f"{e.field}: {e.key}" for e in errors))
        self.errors = errors


def _stale() -> Conflict:
    return Conflict("account.stale", detail="the account changed since the page was loaded")


def flush_or_conflict(session: Session) -> None:
    """Flush; a concurrent change of the same row (optimistic lock) becomes a Conflict."""
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise _stale() from None


# ----------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class ProfileForm:
    name: str
    phone: str
    locale: str
    version: str = ""


def update_profile(session: Session, user: User, form: ProfileForm) -> list[str]:
    """Apply the form; returns the names of the fields that changed (ProfileInvalid lists
    every mistake at once; Conflict when the page was stale). Flushes; the caller commits."""
    if form.version and form.version != str(user.version):
        raise _stale()
    errors: list[FieldError] = []
    name = " ".join(form.name.split())
    if not name:
        errors.append(FieldError("name", "register.name_required"))
    elif len(name) > MAX_NAME:
        errors.append(FieldError("name", "register.name_too_long", {"max": MAX_NAME}))
    phone: str | None = None
    if form.phone.strip():
        try:
            phone = normalize_phone(form.phone)
        except InvalidInput as exc:
            errors.append(FieldError("phone", exc.message))
    if form.locale not in LOCALES:
        errors.append(FieldError("locale", "account.locale_invalid"))
    if errors:
        raise ProfileInvalid(errors)
    changed = []
    if name != user.display_name:
        user.display_name = name
        user.display_name_search = name.casefold()
        changed.append("name")
    if phone != user.phone:
        user.phone = phone
        user.phone_verified = False
        changed.append("phone")
    if form.locale != user.locale:
        user.locale = form.locale
        changed.append("locale")
    if changed:
        flush_or_conflict(session)
        audit.record(
            session,
            Event.USER_PROFILE_UPDATED,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            fields=changed,
        )
    return changed


# ----------------------------------------------------------------------------- NIK


def nik_hash(settings: Settings, nik: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), nik, NIK_PURPOSE)


def masked_nik(encryptor: Encryptor, user: User) -> str | None:
    return mask_nik(encryptor.decrypt(user.nik_encrypted)) if user.nik_encrypted else None


def set_nik(
    session: Session, settings: Settings, encryptor: Encryptor, user: User, raw: str
) -> bool:
    """Add or change the person's NIK (citizens only); False when it is the one stored.
    Raises InvalidInput (explaining which part is wrong), Forbidden or Conflict."""
    if user.kind != "citizen":
        raise Forbidden("account.nik_citizens_only", detail="staff have a NIP, not a NIK here")
    nik = validate_nik(raw[:64])
    digest = nik_hash(settings, nik)
    if user.nik_hash == digest:
        return False
    if account_data.other_user_with_nik(session, digest, user.id) is not None:
        raise Conflict("account.nik_taken", detail="NIK already linked to another account")
    had = user.nik_hash is not None
    try:
        with session.begin_nested():
            user.nik_encrypted = encryptor.encrypt(nik)
            user.nik_hash = digest
            user.nik_verified = False  # typed by the person: never verified
            session.flush()
    except IntegrityError:
        raise Conflict("account.nik_taken", detail="NIK linked concurrently") from None
    except StaleDataError:
        raise _stale() from None
    audit.record(
        session,
        Event.USER_NIK_SET,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        replaced=had,
        verified=False,
    )
    return True


def remove_nik(session: Session, user: User) -> bool:
    if user.nik_hash is None:
        return False
    user.nik_encrypted = None
    user.nik_hash = None
    user.nik_verified = False
    flush_or_conflict(session)
    audit.record(
        session, Event.USER_NIK_REMOVED, actor_id=user.id, target_type="user", target_id=user.id
    )
    return True


# ----------------------------------------------------------------------------- password


@dataclass(frozen=True)
class PasswordChange:
    """What a password change checked before the slow hashes (read in one short transaction)."""

    user_id: str
    old_hash: str


def prepare_password_change(user: User, new: str, confirm: str) -> PasswordChange:
    """Check the new password (PasswordRefused, InvalidInput on a mismatch) before anything
    slow happens; raises Forbidden for an account without a password."""
    if new != confirm:
        raise InvalidInput("password.mismatch", detail="the two new passwords differ")
    policy.enforce(
        new,
        kind=user.kind,
        identifiers=policy.identifiers_of(
            user.username_normalized, user.email_normalized, user.nip
        ),
    )
    if user.password is None:
        raise Forbidden("account.no_password", detail="the account has no password to change")
    return PasswordChange(user.id, user.password.password_hash)


def store_new_password(session: Session, change: PasswordChange, new_hash: str) -> None:
    """Write the new hash if the password is still the one that was checked (else Conflict).
    Flushes and records ``user.password_changed``; ending sessions is the caller's next step."""
    if not user_repo.replace_password_hash_if_unchanged(
        session, change.user_id, change.old_hash, new_hash
    ):
        raise _stale()
    cred = user_repo.get(session, change.user_id)
    if cred is not None and cred.password is not None:
        cred.password.changed_at = now()
        session.flush()
    audit.record(
        session,
        Event.USER_PASSWORD_CHANGED,
        actor_id=change.user_id,
        target_type="user",
        target_id=change.user_id,
    )


def record_wrong_password(session: Session, user_id: str, action: str) -> None:
    """A wrong current password at a sensitive change (never the password itself). Not a
    failed login: the person is logged in and confirming who they are."""
    audit.record(
        session,
        Event.USER_REAUTH_FAILED,
        outcome="failure",
        actor_id=user_id,
        target_type="user",
        target_id=user_id,
        reason="bad_password",
        action=action,
    )
