"""One-time codes: 6 digits, 5 minutes, single use, 5 attempts, stored as keyed hashes.

A code proves that the person reads a phone number (WhatsApp, SMS) or an email address. The
purposes are :data:`~sso.db.models.one_time_codes.PURPOSES`: verify a phone, verify an email,
log in, register. :func:`issue` makes a challenge and returns the code to send (the caller sends
it after the commit, see :mod:`sso.accounts.code_delivery`); :func:`verify` tries a code.

- The code is ``secrets.randbelow(10**6)`` zero-padded, hashed with the challenge id under
  ``SSO_SECRET_KEY`` (HMAC-SHA-256): never stored, never logged outside dev.
- Every well-formed try takes one of the 5 attempts in one conditional UPDATE before it is
  compared, so concurrent guesses cannot exceed them; the right code spends the challenge in a
  second conditional UPDATE, so it works once however many tabs submit it.
- "Send again" (:func:`resend`) replaces the code (the old one stops working) and restarts the
  5 minutes and the attempts; at most once per :data:`RESEND_AFTER`, and every send counts
  against the sending limits of :mod:`sso.accounts.code_limits`, which bound the guesses too.
- A challenge made for a destination nothing may be sent to (a login code for a number no
  account has) gets no code at all: it looks the same and can never be satisfied.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import constant_time_equals, keyed_hash, random_id
from sso.db.models import OneTimeCode
from sso.storage import one_time_codes as repo

CODE_LIFETIME = timedelta(minutes=5)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=30)
CODE_DIGITS = 6
MAX_CHALLENGE_ID = 64


@dataclass(frozen=True)
class Issued:
    challenge_id: str
    code: str | None  # None: nothing is to be sent (see the module's last point)
    destination: str
    channel: str
    expires_at: datetime


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(settings: Settings, challenge_id: str, code: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), f"{challenge_id}:{code}", "one_time_code")


def clean_code(raw: str) -> str | None:
    """The 6 digits of what was typed (spaces and dashes allowed), None if it is not that."""
    digits = re.sub(r"[\s-]", "", raw or "")[:20]
    return digits if re.fullmatch(rf"\d{{{CODE_DIGITS}}}", digits) else None


def minutes() -> int:
    return int(CODE_LIFETIME.total_seconds() // 60)


def issue(
    session: Session,
    settings: Settings,
    *,
    purpose: str,
    channel: str,
    destination: str,
    user_id: str | None,
    deliverable: bool = True,
    data: dict[str, Any] | None = None,
) -> Issued:
    """A new challenge; flushes, the caller commits and then sends ``Issued.code``."""
    t = now()
    challenge_id = random_id(24)
    code = new_code() if deliverable else None
    row = repo.add(
        session,
        OneTimeCode(
            id=challenge_id,
            purpose=purpose,
            channel=channel,
            destination=destination,
            user_id=user_id,
            code_hash=code_hash(settings, challenge_id, code) if code else None,
            attempts=0,
            sends=1,
            data=data or {},
            sent_at=t,
            expires_at=t + CODE_LIFETIME,
        ),
    )
    return Issued(row.id, code, destination, channel, row.expires_at)


def get(session: Session, challenge_id: str) -> OneTimeCode | None:
    if not challenge_id or len(challenge_id) > MAX_CHALLENGE_ID:
        return None
    return repo.get(session, challenge_id)


class ResendTooSoon(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"wait {seconds} s")
        self.seconds = seconds


def resend(
    session: Session, settings: Settings, row: OneTimeCode, channel: str | None = None
) -> Issued | None:
    """A new code for an open challenge (None when it is spent); ResendTooSoon within
    :data:`RESEND_AFTER` of the last send."""
    t = now()
    if row.consumed_at is not None:
        return None
    wait = (row.sent_at + RESEND_AFTER - t).total_seconds()
    if wait > 0:
        raise ResendTooSoon(int(wait) + 1)
    code = new_code() if row.code_hash is not None else None
    digest = code_hash(settings, row.id, code) if code else None
    if not repo.replace_code(session, row.id, digest, t, t + CODE_LIFETIME):
        return None
    if channel is not None and channel != row.channel:
        row.channel = channel
        session.flush()
    return Issued(row.id, code, row.destination, channel or row.channel, t + CODE_LIFETIME)


@dataclass(frozen=True)
class Check:
    # "ok", "wrong", "malformed", "expired" (or unknown), "used", "exhausted"
    status: str
    row: OneTimeCode | None = None
    attempts_left: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def verify(
    session: Session, settings: Settings, challenge_id: str, raw_code: str, purpose: str
) -> Check:
    """Try a code; flushes (the attempt counts even when the caller then fails), the caller
    commits either way."""
    row = get(session, challenge_id)
    if row is None or row.purpose != purpose:
        return Check("expired")
    code = clean_code(raw_code)
    if code is None:
        return Check("malformed", row, max(MAX_ATTEMPTS - row.attempts, 0))
    t = now()
    taken = repo.count_attempt(session, row.id, MAX_ATTEMPTS, t)
    if taken is None:
        session.refresh(row)
        if row.consumed_at is not None:
            return Check("used", row)
        if row.expires_at <= t:
            return Check("expired", row)
        return Check("exhausted", row)
    stored, attempts = taken
    left = MAX_ATTEMPTS - attempts
    if stored is None or not constant_time_equals(stored, code_hash(settings, row.id, code)):
        return Check("exhausted" if left <= 0 else "wrong", row, left)
    if not repo.consume(session, row.id, t):
        return Check("used", row)
    session.refresh(row)
    return Check("ok", row, left)
