"""Sending an issued one-time code, after the commit (a background task of the response, so
no answer waits for a gateway or reveals by its timing whether anything was sent).

A phone code takes one unit of the day's budget (:func:`sso.accounts.code_limits.spend_budget`),
then goes by the person's chosen channel first and the other configured ones after it
(:func:`sso.accounts.code_senders.deliver`). An email code is a mail like the verification
links (:class:`sso.accounts.mail.Mailer`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sso.accounts import code_limits, code_senders
from sso.accounts.mail import Mail, Mailer
from sso.accounts.throttle import Throttle
from sso.config import Settings

log = logging.getLogger("sso.codes")

_MAIL = {
    "id": (
        "Kode Tangsel SSO Anda: {code}",
        "Kode Anda adalah {code}. Kode berlaku {minutes} menit dan hanya dapat dipakai sekali. "
        "Jangan berikan kode ini kepada siapa pun. Jika Anda tidak memintanya, abaikan email "
        "ini; akun Anda tetap aman.",
    ),
    "en": (
        "Your Tangsel SSO code: {code}",
        "Your code is {code}. It is valid for {minutes} minutes and works once. Do not share "
        "it with anyone. If you did not ask for it, ignore this email; your account stays "
        "safe.",
    ),
}


@dataclass(frozen=True)
class Outgoing:
    channel: str  # "whatsapp", "sms" (the preferred one) or "email"
    to: str
    code: str
    locale: str
    minutes: int


def code_mail(out: Outgoing) -> Mail:
    subject, body = _MAIL.get(out.locale, _MAIL["id"])
    text = body.format(code=out.code, minutes=out.minutes)
    html = f'<p>{text}</p><p style="font-size:2em;letter-spacing:.2em"><b>{out.code}</b></p>'
    return Mail(out.to, subject.format(code=out.code), text, html, purpose="one_time_code")


def phone_order(settings: Settings, preferred: str) -> list[str]:
    ready = code_senders.channels(settings)
    return ([preferred] if preferred in ready else []) + [c for c in ready if c != preferred]


def available(settings: Settings) -> bool:
    """Whether phone codes can go out at all (a gateway, or the dev log)."""
    return bool(code_senders.channels(settings))


def send(settings: Settings, guard: Throttle, mailer: Mailer, out: Outgoing) -> str | None:
    """Send one code; the channel that took it, or None. Never raises (a background task)."""
    try:
        if out.channel == "email":
            mailer.deliver([code_mail(out)])
            return "email"
        if not code_limits.spend_budget(guard):
            log.error(
                "phone code not sent: the daily budget (SSO_PHONE_CODE_DAILY_BUDGET) is spent"
            )
            return None
        message = code_senders.PhoneMessage(out.to, out.code, out.locale, out.minutes)
        return code_senders.deliver(settings, message, phone_order(settings, out.channel))
    except Exception:  # a background task: log, never lose the worker
        log.exception("phone code not sent")
        return None
