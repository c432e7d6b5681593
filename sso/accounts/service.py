"""Creating, disabling and authenticating people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from sso.accounts import policy
from sso.accounts.identifiers import (
    normalize_email,
    normalize_login,
    normalize_username,
    validate_nip,
)
from sso.accounts.passwords import PasswordHasher
from sso.config import Settings
from sso.core.clock import now
from sso.core.errors import Conflict, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import User
from sso.storage import agencies as agency_repo
from sso.storage import audit
from sso.storage import roles as role_repo
from sso.storage import users as user_repo


@dataclass(frozen=True)
class NewUser:
    username: str
    email: str | None
    kind: str = "citizen"
    display_name: str = ""
    given_name: str | None = None
    family_name: str | None = None
    nip: str | None = None
    agency_code: str | None = None
    position: str | None = None
    phone: str | None = None
    email_verified: bool = False
    locale: str = "id"
    external_id: str | None = None  # a provisioning client's own id (SCIM externalId)


def create_user(
    session: Session,
    hasher: PasswordHasher | None,
    new: NewUser,
    password: str | None,
    *,
    admin: bool = False,
    actor_id: str | None = None,
) -> User:
    """Validate and add a person (flushes, does not commit). Raises InvalidInput / Conflict."""
    if new.kind not in ("staff", "citizen"):
        raise InvalidInput("error.kind_invalid", detail="kind must be staff or citizen")
    username = normalize_username(new.username)
    email = normalize_email(new.email) if new.email else None
    if new.kind == "citizen" and (new.nip or new.agency_code or new.position):
        raise InvalidInput("error.citizen_staff_fields", detail="citizens have no NIP or agency")
    nip = validate_nip(new.nip) if new.nip else None
    agency_id = None
    if new.agency_code:
        agency = agency_repo.get_by_code(session, new.agency_code)
        if agency is None:
            raise NotFound("error.agency_unknown", detail=f"unknown agency {new.agency_code!r}")
        agency_id = agency.id
    if password is not None:
        # NIST SP 800-63B policy (12 characters for staff); raises PasswordRefused.
        policy.enforce(
            password,
            kind=new.kind,
            identifiers=policy.identifiers_of(username, email, nip),
        )
    if user_repo.username_taken(session, username):
        raise Conflict("error.username_taken", detail=f"username {username!r} is taken")
    if email and user_repo.email_taken(session, email):
        raise Conflict("error.email_taken", detail="email already registered")
    if nip and user_repo.nip_taken(session, nip):
        raise Conflict("error.nip_taken", detail="NIP already registered")
    display = (
        new.display_name.strip()
        or " ".join(p for p in (new.given_name, new.family_name) if p)
        or username
    )
    user = User(
        kind=new.kind,
        username=new.username.strip(),
        username_normalized=username,
        email=new.email.strip() if new.email else None,
        email_normalized=email,
        email_verified=new.email_verified,
        phone=new.phone,
        display_name=display,
        display_name_search=display.casefold(),
        given_name=new.given_name,
        family_name=new.family_name,
        locale=new.locale,
        status="active",
        nip=nip,
        agency_id=agency_id,
        position=new.position,
        external_id=new.external_id,
    )
    user_repo.add(session, user)
    if password is not None:
        assert hasher is not None, "a password needs the hasher"
        user_repo.set_password_hash(session, user.id, hasher.hash(password), now())
    if admin:
        role_repo.assign_to_user(session, role_repo.get_or_create_global(session, "admin"), user.id)
    audit.record(
        session,
        Event.USER_CREATED,
        actor_id=actor_id,
        target_type="user",
        target_id=user.id,
        kind=new.kind,
        admin=admin,
    )
    return user


def disable_user(session: Session, identifier: str, *, actor_id: str | None = None) -> User:
    user = user_repo.find_by_login(session, normalize_login(identifier))
    if user is None:
        raise NotFound("error.user_unknown", detail=f"no user {identifier!r}")
    user.status = "disabled"
    session.flush()
    audit.record(
        session, Event.USER_DISABLED, actor_id=actor_id, target_type="user", target_id=user.id
    )
    return user


class AuthenticationFailed(Exception):
    def __init__(self, reason: str, user: User | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user = user

    @property
    def credential_was_wrong(self) -> bool:
        """A wrong or unknown credential (counts as a guess), as opposed to a right credential
        of an account that may not log in (disabled, unverified)."""
        return self.reason in WRONG_CREDENTIAL


# Reasons of a refusal where the credential itself did not prove the person.
WRONG_CREDENTIAL = frozenset({"unknown_user", "bad_password", "bad_passkey"})


def check_may_log_in(
    user: User, grace: timedelta | None = None, *, email_rule: bool = True
) -> None:
    """The account rules of every way of logging in (password, passkey), applied once the
    credential has proved who it is: a disabled account is refused, and so is a citizen who
    has proven neither an email address nor a phone number (``email_rule``; off for a login an
    upstream identity provider proved), unless they registered less than ``grace`` ago
    (:func:`grace_ends_at`). Raises :class:`AuthenticationFailed`."""
    if not user.is_active:
        raise AuthenticationFailed("disabled", user)
    # Checked only after the right credential, so it reveals nothing to a guesser.
    if (
        email_rule
        and grace_ends_at(user, grace) is None
        and user.kind == "citizen"
        and not (user.email_verified or user.phone_verified)
    ):
        raise AuthenticationFailed("unverified", user)


ACR_GRACE = "0"  # OIDC Core §2: below ISO/IEC 29115 level 1 (nothing of value on it)


def email_grace(settings: Settings) -> timedelta | None:
    """How long after an email-only registration the person may log in unverified."""
    minutes = settings.email_verification_grace_minutes
    return timedelta(minutes=minutes) if minutes > 0 else None


def grace_ends_at(user: User, grace: timedelta | None) -> datetime | None:
    """When the grace login of a citizen who has not opened their verification mail yet ends
    (None: not such a login). Such a login has ``acr`` "0" and its session ends then."""
    if grace is None or user.kind != "citizen" or user.email_verified or user.phone_verified:
        return None
    end = user.created_at + grace
    return end if end > now() else None


def authenticate(
    session: Session,
    hasher: PasswordHasher,
    identifier: str,
    password: str,
    grace: timedelta | None = None,
) -> User:
    """The active user with this identifier and password, or AuthenticationFailed.

    Unknown accounts still cost one hash check so timing does not reveal which accounts exist.
    A stored hash with outdated parameters or scheme is replaced on success."""
    user = user_repo.find_by_login(session, normalize_login(identifier)) if identifier else None
    return check_password(session, hasher, user, password, grace)


def check_password(
    session: Session,
    hasher: PasswordHasher,
    user: User | None,
    password: str,
    grace: timedelta | None = None,
) -> User:
    """:func:`authenticate` for an account already looked up (None: no such account, which
    still costs one hash check)."""
    credential = user.password if user is not None else None
    if user is None or credential is None:
        hasher.waste_time(password)
        raise AuthenticationFailed("unknown_user", user)
    ok, new_hash = hasher.verify(password, credential.password_hash)
    if not ok:
        raise AuthenticationFailed("bad_password", user)
    check_may_log_in(user, grace)
    if new_hash:
        user_repo.replace_password_hash_if_unchanged(
            session, user.id, credential.password_hash, new_hash
        )
    return user
