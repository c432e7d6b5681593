"""Citizens without a password: a code sent to a verified phone (WhatsApp or SMS) or a
verified email logs them in; a code sent to a phone number registers them (email optional,
added later in the account console); a code confirms a phone number or an email address.

Every ``start_*`` counts the request against the sending limits first
(:func:`sso.accounts.code_limits.allow_request`, raising :class:`SendRefused`), then makes a
challenge (:mod:`sso.accounts.otp`) and returns what to send after the commit. The person sees
the same "we sent a code" page whether the number or address has an account or not: for one
without, nothing is sent and the challenge can never be satisfied. What every kind of code
shares (the limits, the events, sending again) is :mod:`sso.accounts.code_requests`.

Login by code is for citizens: staff log in with a password and their second factor.
Registering with a number that already has an account logs its owner in (they proved the
number), and a number proven on one account stops being verified on any other (operators
recycle numbers).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.accounts import otp
from sso.accounts import phone as phones
from sso.accounts.code_requests import (
    CodeRequest,
    check_limits,
    outgoing,
    parse_destination,
    phone_channel,
    record_failed,
    record_issued,
    sendable_phone,
)
from sso.accounts.identifiers import normalize_email
from sso.accounts.registration import MAX_NAME, FieldError, RegistrationInvalid
from sso.accounts.service import NewUser, create_user
from sso.accounts.throttle import Throttle
from sso.config import Settings
from sso.core.errors import Conflict, InvalidInput
from sso.core.events import Event
from sso.db.models import User
from sso.db.models.one_time_codes import LOGIN, REGISTER, VERIFY_EMAIL, VERIFY_PHONE
from sso.storage import audit
from sso.storage import phones as phone_repo
from sso.storage import users as user_repo

PHONE_VERIFIED = Event.USER_PHONE_VERIFIED
EMAIL_VERIFIED = Event.USER_EMAIL_VERIFIED
REGISTERED = Event.USER_REGISTERED
USERNAME_ATTEMPTS = 8


# ----------------------------------------------------------------------------- login


def start_login(
    session: Session,
    settings: Settings,
    guard: Throttle,
    raw: str,
    *,
    channel: str,
    locale: str,
    ip: str | None,
    data: dict[str, Any] | None = None,
) -> CodeRequest:
    """A login code for a verified phone number or email (InvalidInput when ``raw`` is
    neither; SendRefused over the limits)."""
    destination, is_phone = parse_destination(raw)
    check_limits(session, guard, destination, ip, is_phone)
    if is_phone:
        user = phone_repo.find_by_verified_phone(session, destination)
        deliverable = phones.sendable(destination, settings.phone_region_set)
    else:
        user = phone_repo.find_by_verified_email(session, destination)
        deliverable = True
    if user is not None and (user.kind != "citizen" or not user.is_active):
        user = None  # staff use their password and second factor; disabled accounts nothing
    issued = otp.issue(
        session,
        settings,
        purpose=LOGIN,
        channel=phone_channel(channel) if is_phone else "email",
        destination=destination,
        user_id=user.id if user else None,
        deliverable=user is not None and deliverable,
        data=data,
    )
    record_issued(session, issued, LOGIN, user.id if user else None)
    return CodeRequest(issued, outgoing(issued, locale))


def _still_proves(user: User, destination: str) -> bool:
    if destination.startswith("+"):
        return user.phone == destination and user.phone_verified
    return user.email_normalized == destination and user.email_verified


def finish_login(
    session: Session, settings: Settings, challenge_id: str, code: str
) -> tuple[otp.Check, User | None]:
    """The person the code logs in, or None (the check says why); the caller commits."""
    check = otp.verify(session, settings, challenge_id, code, LOGIN)
    if not check.ok or check.row is None:
        record_failed(session, check, LOGIN)
        return check, None
    user = user_repo.get(session, check.row.user_id) if check.row.user_id else None
    if user is None or not user.is_active or not _still_proves(user, check.row.destination):
        return otp.Check("expired", check.row), None
    return check, user


# ----------------------------------------------------------------------------- registration


@dataclass(frozen=True)
class PhoneRegistration:
    name: str
    phone: str
    email: str = ""
    channel: str = "whatsapp"
    locale: str = "id"


def validate_registration(settings: Settings, reg: PhoneRegistration) -> tuple[str, str, str]:
    """(name, E.164 number, normalised email or ""), or RegistrationInvalid listing every
    mistake."""
    errors: list[FieldError] = []
    name = " ".join(reg.name.split())
    if not name:
        errors.append(FieldError("name", "register.name_required"))
    elif len(name) > MAX_NAME:
        errors.append(FieldError("name", "register.name_too_long", {"max": MAX_NAME}))
    number = ""
    try:
        number = sendable_phone(settings, reg.phone)
    except InvalidInput as exc:
        errors.append(FieldError("phone", exc.message))
    email = ""
    if reg.email.strip():
        try:
            email = normalize_email(reg.email[:254])
        except InvalidInput as exc:
            errors.append(FieldError("email", exc.message))
    if errors:
        raise RegistrationInvalid(errors)
    return name, number, email


def start_registration(
    session: Session,
    settings: Settings,
    guard: Throttle,
    reg: PhoneRegistration,
    *,
    ip: str | None,
    extra: dict[str, Any] | None = None,
) -> CodeRequest:
    name, number, email = validate_registration(settings, reg)
    check_limits(session, guard, number, ip, True)
    data = {"name": name, "email": email, "locale": reg.locale, **(extra or {})}
    issued = otp.issue(
        session,
        settings,
        purpose=REGISTER,
        channel=phone_channel(reg.channel),
        destination=number,
        user_id=None,
        data=data,
    )
    record_issued(session, issued, REGISTER, None)
    return CodeRequest(issued, outgoing(issued, reg.locale))


def username_from_name(name: str) -> str:
    """``Siti Aminah`` → ``siti.aminah`` (ASCII, 3-40 characters; ``warga`` when too short)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", ".", ascii_name.casefold()).strip(".")[:40].strip(".")
    return base if len(base) >= 3 else "warga"


@dataclass(frozen=True)
class Registered:
    user: User
    created: bool  # False: the number already had an account, whose owner is now logged in
    email_to_verify: str | None  # an email given at sign-up (a verification link goes there)


def finish_registration(
    session: Session, settings: Settings, challenge_id: str, code: str
) -> tuple[otp.Check, Registered | None]:
    check = otp.verify(session, settings, challenge_id, code, REGISTER)
    if not check.ok or check.row is None:
        record_failed(session, check, REGISTER)
        return check, None
    number = check.row.destination
    data = dict(check.row.data or {})
    existing = phone_repo.find_by_verified_phone(session, number)
    if existing is not None and existing.is_active:
        return check, Registered(existing, False, None)
    email = str(data.get("email") or "") or None
    if email is not None and user_repo.email_taken(session, email):
        email = None  # the address is someone's already; it can be added (and proven) later
    user = _create(
        session, str(data.get("name") or ""), number, email, str(data.get("locale") or "id")
    )
    phone_repo.unverify_elsewhere(session, number, user.id)
    audit.record(
        session,
        REGISTERED,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        method="phone_code",
    )
    return check, Registered(user, True, email)


def _create(session: Session, name: str, number: str, email: str | None, locale: str) -> User:
    base = username_from_name(name)
    for attempt in range(USERNAME_ATTEMPTS):
        username = base
        if attempt or base == "warga" or user_repo.username_taken(session, base):
            username = f"{base}-{secrets.randbelow(900000) + 100000}"
        try:
            with session.begin_nested():
                user = create_user(
                    session,
                    None,
                    NewUser(
                        username=username,
                        email=email,
                        kind="citizen",
                        display_name=name,
                        phone=number,
                        email_verified=False,
                        locale=locale,
                    ),
                    None,
                )
                user.phone_verified = True
                session.flush()
            return user
        except (IntegrityError, Conflict):
            continue
    raise Conflict("error.username_taken", detail="no free username after several attempts")


# ----------------------------------------------------------------------------- verifying


def start_phone_verification(
    session: Session,
    settings: Settings,
    guard: Throttle,
    user: User,
    raw: str,
    *,
    channel: str,
    locale: str,
    ip: str | None,
) -> CodeRequest:
    number = sendable_phone(settings, raw)
    check_limits(session, guard, number, ip, True)
    issued = otp.issue(
        session,
        settings,
        purpose=VERIFY_PHONE,
        channel=phone_channel(channel),
        destination=number,
        user_id=user.id,
    )
    record_issued(session, issued, VERIFY_PHONE, user.id)
    return CodeRequest(issued, outgoing(issued, locale))


def confirm_phone(
    session: Session, settings: Settings, user: User, challenge_id: str, code: str
) -> otp.Check:
    """Set and verify the number the code went to (the caller commits)."""
    row = otp.get(session, challenge_id)
    if row is None or row.user_id != user.id:
        return otp.Check("expired")
    check = otp.verify(session, settings, challenge_id, code, VERIFY_PHONE)
    if not check.ok:
        record_failed(session, check, VERIFY_PHONE)
        return check
    user.phone = row.destination
    user.phone_verified = True
    session.flush()
    phone_repo.unverify_elsewhere(session, row.destination, user.id)
    audit.record(
        session,
        PHONE_VERIFIED,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        channel=row.channel,
    )
    return check


def start_email_verification(
    session: Session,
    settings: Settings,
    guard: Throttle,
    user: User,
    *,
    locale: str,
    ip: str | None,
) -> CodeRequest:
    """A code to the person's current (unverified) email address."""
    if user.email_normalized is None or user.email_verified:
        raise InvalidInput("code.nothing_to_verify", detail="no unverified email")
    check_limits(session, guard, user.email_normalized, ip, False)
    issued = otp.issue(
        session,
        settings,
        purpose=VERIFY_EMAIL,
        channel="email",
        destination=user.email_normalized,
        user_id=user.id,
    )
    record_issued(session, issued, VERIFY_EMAIL, user.id)
    return CodeRequest(issued, outgoing(issued, locale))


def confirm_email(
    session: Session, settings: Settings, user: User, challenge_id: str, code: str
) -> otp.Check:
    row = otp.get(session, challenge_id)
    if row is None or row.user_id != user.id:
        return otp.Check("expired")
    check = otp.verify(session, settings, challenge_id, code, VERIFY_EMAIL)
    if not check.ok:
        record_failed(session, check, VERIFY_EMAIL)
        return check
    if user.email_normalized != row.destination:  # the address changed since
        return otp.Check("expired", row)
    user.email_verified = True
    session.flush()
    audit.record(
        session,
        EMAIL_VERIFIED,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        method="code",
    )
    return check
