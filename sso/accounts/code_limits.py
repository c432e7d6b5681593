"""Sending limits of one-time codes (SMS pumping and toll fraud, mailbox flooding).

Each request for a code counts, before anything is looked up, per destination (the number or
email), per IP address and, for phone numbers, per number range (:func:`sso.accounts.phone.prefix`):
so the answer and the counters are the same for a number with an account and one without. Each
message that really goes out (WhatsApp or SMS) also takes one unit of the day's budget
(``SSO_PHONE_CODE_DAILY_BUDGET``, UTC days) shared by all workers; past it nothing is sent until
the next day. Counters live where the guessing protection keeps its own (Redis, else the
database; :class:`sso.accounts.throttle.Throttle`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from sso.accounts import phone
from sso.accounts.throttle import Throttle, Verdict
from sso.core.clock import now
from sso.storage.throttle import Limit

HOUR = 3600


def _hourly(threshold: int) -> Limit:
    # The threshold-th request is the last one let through; the lock then lasts the hour.
    return Limit(threshold, HOUR, HOUR, HOUR)


def allow_request(
    guard: Throttle,
    destination: str,
    ip: str | None,
    is_phone: bool,
    session: Session | None = None,
) -> Verdict:
    """Count one request for a code to ``destination`` from ``ip``; refused with the wait
    when a limit is reached (nothing more is counted then). Database counters are written in
    ``session`` (the request's transaction: SQLite has one writer), committed by the caller."""
    s = guard.settings
    checks = [
        (guard.key("code_ip", ip or "unknown"), s.phone_code_max_sends_ip),
        (guard.key("code_to", destination), s.phone_code_max_sends_number),
    ]
    if is_phone:
        checks.append(
            (
                guard.key("code_prefix", phone.prefix(destination, s.phone_code_prefix_digits)),
                s.phone_code_max_sends_prefix,
            )
        )
    for key, _threshold in checks:
        wait = guard.retry_after(key, session)
        if wait:
            return Verdict(False, wait)
    for key, threshold in checks:
        verdict = guard.hit(key, _hourly(threshold), session)
        if not verdict.allowed:
            return verdict
    return Verdict(True)


def spend_budget(guard: Throttle) -> bool:
    """Take one message of today's budget (False: the budget is spent, send nothing)."""
    t = now()
    day = t.astimezone(UTC).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    left = max(1, int((midnight - t).total_seconds()))
    limit = Limit(guard.settings.phone_code_daily_budget, left, left, left)
    key = guard.key("code_budget", day.isoformat())
    if guard.retry_after(key):
        return False
    return guard.hit(key, limit).allowed
