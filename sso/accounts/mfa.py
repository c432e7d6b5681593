"""Multi-factor authentication: who must use it, the person's factors, TOTP enrolment, recovery
codes, and checking a code typed at login (with the same guessing protection as passwords).

Policy (issue 4): staff holding a global admin-ish role (:data:`ADMIN_ROLES`) always need a
second factor; with ``Settings.mfa_required_for_staff`` every staff member does (unset: yes in
prod, no in dev and test); citizens choose. Whoever has a factor is asked for it at every
password login (as Keycloak does once OTP is configured).

Levels (``acr``, advertised in discovery): "1" = password only, "2" = a second factor, or a
passkey with user verification. ``amr`` values follow RFC 8176: ``pwd``, ``otp`` (TOTP or a
single-use recovery code), ``hwk``/``swk`` + ``user`` (passkey) and ``mfa`` when more than one
factor was used.

Codes are counted like passwords (:mod:`sso.accounts.throttle`): an attempt is reserved per
account and per account + IP before the code is checked; the threshold'th attempt locks for a
growing while; a correct code clears the counters.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from sso.accounts import totp
from sso.accounts.throttle import Throttle, Verdict
from sso.config import Settings
from sso.core.crypto import Encryptor, keyed_hash
from sso.core.errors import DomainError
from sso.core.events import Event
from sso.db.models import User
from sso.storage import audit
from sso.storage import mfa as repo
from sso.storage import roles as role_repo

ADMIN_ROLES = frozenset({"admin", "opd-admin", "helpdesk", "auditor"})
ACR_PASSWORD = "1"
ACR_MFA = "2"
RECOVERY_CODE_COUNT = 10
# Crockford-like alphabet without look-alikes (0/O, 1/I/L): easy to read off paper.
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_CODE_LENGTH = 10  # ~49 bits each
METHODS = ("totp", "recovery")


class SecondFactorRefused(DomainError):
    """A code was refused; ``message`` is a catalogue key, ``retry_after`` set when locked."""

    def __init__(self, message: str, *, reason: str, retry_after: int = 0) -> None:
        super().__init__(message, detail=reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class Factors:
    totp: bool
    passkeys: int
    recovery_codes_left: int

    @property
    def any(self) -> bool:
        return self.totp or self.passkeys > 0


@dataclass(frozen=True)
class CodeAttempt:
    keys: tuple[str, str]
    verdict: Verdict


# ---------------------------------------------------------------------- policy
def staff_mfa_required(settings: Settings) -> bool:
    if settings.mfa_required_for_staff is not None:
        return settings.mfa_required_for_staff
    return settings.env == "prod"


def mfa_required(session: Session, settings: Settings, user: User) -> bool:
    """Whether ``user`` must log in with a second factor."""
    if user.kind != "staff":
        return False
    if staff_mfa_required(settings):
        return True
    held = role_repo.role_names_for(session, user.id, user.agency_id, None)
    return not ADMIN_ROLES.isdisjoint(held)


def factors(session: Session, user_id: str) -> Factors:
    cred = repo.get_totp(session, user_id)
    return Factors(
        totp=cred is not None and cred.confirmed_at is not None,
        passkeys=repo.count_passkeys(session, user_id),
        recovery_codes_left=repo.unused_recovery_codes(session, user_id),
    )


def has_mfa(session: Session, user_id: str) -> bool:
    """A confirmed TOTP or at least one passkey (recovery codes alone are no factor): one
    statement, where :func:`factors` takes three."""
    return repo.has_factor(session, user_id)


def combine_amr(*parts: list[str], mfa: bool = True) -> list[str]:
    """``amr`` of methods used together, in order without repeats, ``mfa`` last when more than
    one factor was proven (RFC 8176 §2)."""
    out = list(dict.fromkeys(v for part in parts for v in part if v != "mfa"))
    return [*out, "mfa"] if mfa else out


def reset_mfa(session: Session, user_id: str, actor_id: str | None) -> None:
    """Remove every factor of a person (admin or helpdesk, e.g. a lost phone)."""
    removed_totp = repo.delete_totp(session, user_id)
    passkeys = repo.delete_passkeys(session, user_id)
    codes = repo.delete_recovery_codes(session, user_id)
    audit.record(
        session,
        Event.MFA_RESET,
        actor_id=actor_id,
        target_type="user",
        target_id=user_id,
        totp=removed_totp,
        passkeys=passkeys,
        recovery_codes=codes,
    )


# ---------------------------------------------------------------------- TOTP enrolment
def pending_totp_secret(session: Session, encryptor: Encryptor, user: User) -> str:
    """The secret of an enrolment in progress, started now when there is none."""
    cred = repo.get_totp(session, user.id)
    if cred is not None and cred.confirmed_at is not None:
        raise DomainError("mfa.totp_already", detail="TOTP already enrolled")
    if cred is not None:
        return encryptor.decrypt(cred.secret_encrypted)
    secret = totp.new_secret()
    repo.put_pending_totp(session, user.id, encryptor.encrypt(secret))
    return secret


def confirm_totp(
    session: Session, settings: Settings, encryptor: Encryptor, user: User, code: str
) -> list[str] | None:
    """Activate the pending TOTP when ``code`` is right. Returns fresh recovery codes when the
    person had none left (shown once), [] when they still have some; None for a wrong code."""
    cred = repo.get_totp(session, user.id)
    if cred is None or cred.confirmed_at is not None:
        return None
    step = totp.matching_step(encryptor.decrypt(cred.secret_encrypted), code)
    if step is None or not repo.confirm_totp(session, user.id, step):
        return None
    audit.record(
        session, Event.MFA_TOTP_ENROLLED, actor_id=user.id, target_type="user", target_id=user.id
    )
    if repo.unused_recovery_codes(session, user.id) == 0:
        return new_recovery_codes(session, settings, user.id, actor_id=user.id)
    return []


def remove_totp(session: Session, user: User) -> bool:
    removed = repo.delete_totp(session, user.id)
    if removed:
        audit.record(
            session,
            Event.MFA_TOTP_REMOVED,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
        )
    return removed


# ---------------------------------------------------------------------- recovery codes
def _recovery_hash(settings: Settings, user_id: str, code: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), f"{user_id}:{code}", "recovery_code")


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())[:64]


def new_recovery_codes(
    session: Session, settings: Settings, user_id: str, *, actor_id: str | None
) -> list[str]:
    """Ten fresh single-use codes replacing all earlier ones; only their keyed hashes are kept,
    so the returned list is the only time they exist in clear."""
    codes = [
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    repo.replace_recovery_codes(
        session, user_id, [_recovery_hash(settings, user_id, c) for c in codes]
    )
    audit.record(
        session,
        Event.MFA_RECOVERY_CODES_GENERATED,
        actor_id=actor_id,
        target_type="user",
        target_id=user_id,
        count=len(codes),
    )
    return [f"{c[:5]}-{c[5:]}" for c in codes]


# ---------------------------------------------------------------------- checking a code
def reserve_code_attempt(guard: Throttle, user_id: str, ip: str | None) -> CodeAttempt:
    """Reserve one code check (outside any open transaction of the caller: it commits its own)."""
    s = guard.settings
    account = guard.key("mfa_acct", user_id)
    account_ip = guard.key("mfa_acct_ip", user_id, ip or "unknown")
    wait = max(guard.retry_after(account), guard.retry_after(account_ip))
    if wait:
        return CodeAttempt((account, account_ip), Verdict(False, wait))
    verdict = guard.hit(account_ip, guard.limit(s.login_max_failures_account_ip))
    if verdict.allowed:
        verdict = guard.hit(account, guard.limit(s.login_max_failures_account))
    return CodeAttempt((account, account_ip), verdict)


def code_attempt_succeeded(guard: Throttle, attempt: CodeAttempt) -> None:
    guard.reset(list(attempt.keys))


def check_code(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    user: User,
    method: str,
    code: str,
) -> list[str]:
    """The ``amr`` values a correct code proves; :class:`SecondFactorRefused` otherwise (the
    failure is audited in ``session``: commit it)."""
    reason = "invalid"
    if method == "totp":
        cred = repo.get_totp(session, user.id)
        if cred is not None and cred.confirmed_at is not None:
            step = totp.matching_step(encryptor.decrypt(cred.secret_encrypted), code)
            if step is not None:
                if repo.use_totp_step(session, user.id, step):
                    return ["otp"]
                reason = "replayed"
    elif method == "recovery":
        normalized = normalize_recovery_code(code)
        if normalized and repo.use_recovery_code(
            session, user.id, _recovery_hash(settings, user.id, normalized)
        ):
            audit.record(
                session,
                Event.MFA_RECOVERY_CODE_USED,
                actor_id=user.id,
                target_type="user",
                target_id=user.id,
                remaining=repo.unused_recovery_codes(session, user.id),
            )
            return ["otp"]
    else:
        reason = "unknown_method"
    audit.record(
        session,
        Event.MFA_FAILED,
        outcome="failure",
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        method=method if method in METHODS else "other",
        reason=reason,
    )
    message = "mfa.code_replayed" if reason == "replayed" else "mfa.code_invalid"
    raise SecondFactorRefused(message, reason=reason)
