"""What every one-time code request shares (login, registration and verification codes of
:mod:`sso.accounts.passwordless`): the sending limits checked first
(:func:`sso.accounts.code_limits.allow_request`, :class:`SendRefused` over them), the channel
chosen, the ``one_time_code.issued`` / ``one_time_code.failed`` events, what to send after the
commit (:class:`CodeRequest`), and "Kirim ulang" (:func:`resend`) of an open challenge."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from sso.accounts import code_limits, otp
from sso.accounts import phone as phones
from sso.accounts.code_delivery import Outgoing
from sso.accounts.identifiers import normalize_email
from sso.accounts.throttle import Throttle
from sso.config import Settings
from sso.core.errors import DomainError, InvalidInput
from sso.core.events import Event
from sso.storage import audit

CODE_ISSUED = Event.ONE_TIME_CODE_ISSUED
CODE_FAILED = Event.ONE_TIME_CODE_FAILED
PHONE_CHANNELS = ("whatsapp", "sms")


class SendRefused(DomainError):
    """Too many codes asked for (this number, this address, this IP or this range)."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("code.too_many", detail="code sending limit reached")
        self.retry_after = retry_after


@dataclass(frozen=True)
class CodeRequest:
    issued: otp.Issued
    outgoing: Outgoing | None  # None: nothing to send (no such account, or not sendable)


def outgoing(issued: otp.Issued, locale: str) -> Outgoing | None:
    if issued.code is None:
        return None
    return Outgoing(issued.channel, issued.destination, issued.code, locale, otp.minutes())


def phone_channel(preferred: str) -> str:
    return preferred if preferred in PHONE_CHANNELS else PHONE_CHANNELS[0]


def check_limits(
    session: Session, guard: Throttle, destination: str, ip: str | None, is_phone: bool
) -> None:
    verdict = code_limits.allow_request(guard, destination, ip, is_phone, session)
    if not verdict.allowed:
        raise SendRefused(verdict.retry_after)


def parse_destination(raw: str) -> tuple[str, bool]:
    """A login identifier as (E.164 number, True) or (normalised email, False)."""
    if "@" in (raw or ""):
        return normalize_email(raw[:254]), False
    return phones.normalize(raw), True


def sendable_phone(settings: Settings, raw: str) -> str:
    number = phones.normalize(raw)
    if not phones.sendable(number, settings.phone_region_set):
        raise InvalidInput("phone.not_sendable", detail="not a mobile number we send codes to")
    return number


def record_issued(session: Session, issued: otp.Issued, purpose: str, user_id: str | None) -> None:
    audit.record(
        session,
        CODE_ISSUED,
        actor_id=user_id,
        target_type="user" if user_id else None,
        target_id=user_id,
        purpose=purpose,
        channel=issued.channel,
        sent=issued.code is not None,
    )


def record_failed(session: Session, check: otp.Check, purpose: str) -> None:
    user_id = check.row.user_id if check.row is not None else None
    audit.record(
        session,
        CODE_FAILED,
        outcome="failure",
        actor_id=user_id,
        target_type="user" if user_id else None,
        target_id=user_id,
        purpose=purpose,
        reason=check.status,
    )


def resend(
    session: Session,
    settings: Settings,
    guard: Throttle,
    challenge_id: str,
    *,
    channel: str | None,
    locale: str,
    ip: str | None,
) -> CodeRequest | None:
    """ "Kirim ulang": a new code for an open challenge, by the same or another phone channel
    (None when the challenge is spent or unknown; otp.ResendTooSoon; SendRefused)."""
    row = otp.get(session, challenge_id)
    if row is None or row.consumed_at is not None:
        return None
    is_phone = row.channel != "email"
    check_limits(session, guard, row.destination, ip, is_phone)
    issued = otp.resend(
        session, settings, row, phone_channel(channel) if is_phone and channel else None
    )
    if issued is None:
        return None
    record_issued(session, issued, row.purpose, row.user_id)
    return CodeRequest(issued, outgoing(issued, locale))
