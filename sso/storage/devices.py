"""Device authorizations (RFC 8628).

Every change of ``status`` is one conditional UPDATE and a row-count check: a person approves
or denies only a pending, unexpired request, and of any number of concurrent polls of an
approved one exactly one consumes it (:mod:`sso.storage.single_use`), on every backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import DeviceAuthorization
from sso.db.models.devices import APPROVED, CONSUMED, DENIED, PENDING
from sso.storage.single_use import SingleUse

SLOW_DOWN_STEP = 5  # seconds added to the interval on every slow_down (RFC 8628 §3.5)


def add(session: Session, row: DeviceAuthorization) -> bool:
    """Store a new request; False when its user code is taken (the caller draws another)."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def get(session: Session, device_code_hash: str) -> DeviceAuthorization | None:
    return session.get(DeviceAuthorization, device_code_hash, populate_existing=True)


def get_by_user_code(session: Session, user_code_hash: str) -> DeviceAuthorization | None:
    return session.scalar(
        select(DeviceAuthorization)
        .where(DeviceAuthorization.user_code_hash == user_code_hash)
        .execution_options(populate_existing=True)
    )


def _decide(session: Session, device_code_hash: str, status: str, **values: object) -> bool:
    """pending → ``status`` if the request has not expired; True for the one caller that did."""
    t = now()
    result = session.execute(
        update(DeviceAuthorization)
        .where(
            DeviceAuthorization.device_code_hash == device_code_hash,
            DeviceAuthorization.status == PENDING,
            DeviceAuthorization.expires_at > t,
        )
        .values(status=status, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def approve(
    session: Session,
    device_code_hash: str,
    *,
    user_id: str,
    login_session_id: str,
    auth_time: datetime,
    amr: list[str],
    acr: str | None,
) -> bool:
    return _decide(
        session,
        device_code_hash,
        APPROVED,
        user_id=user_id,
        login_session_id=login_session_id,
        auth_time=auth_time,
        amr=amr,
        acr=acr,
        approved_at=now(),
    )


def attach_grant(session: Session, device_code_hash: str, grant_id: str) -> None:
    """The grant made at approval (same transaction as :func:`approve`)."""
    session.execute(
        update(DeviceAuthorization)
        .where(DeviceAuthorization.device_code_hash == device_code_hash)
        .values(grant_id=grant_id)
        .execution_options(synchronize_session=False)
    )


def deny(session: Session, device_code_hash: str) -> bool:
    return _decide(session, device_code_hash, DENIED, denied_at=now())


def consume(session: Session, device_code_hash: str) -> bool:
    """approved → consumed, before expiry; exactly one caller ever sees True."""
    return APPROVED_REQUESTS.try_consume(session, device_code_hash)


# Only an approved request, with the grant its approval made, is redeemed.
APPROVED_REQUESTS = SingleUse(
    DeviceAuthorization,
    "device_code_hash",
    guards=(DeviceAuthorization.status == APPROVED, DeviceAuthorization.grant_id.is_not(None)),
    sets={"status": CONSUMED},
)


@dataclass(frozen=True)
class Poll:
    slow_down: bool
    interval: int  # the interval from now on


def poll(row: DeviceAuthorization, at: datetime) -> Poll:
    """RFC 8628 §3.5: a poll sooner than ``interval`` seconds after the previous one is answered
    ``slow_down``, and the interval grows by 5 seconds for it and every later poll."""
    last = row.last_polled_at
    too_soon = last is not None and at - last < timedelta(seconds=row.interval)
    return Poll(too_soon, row.interval + SLOW_DOWN_STEP if too_soon else row.interval)


def record_poll(session: Session, device_code_hash: str, *, at: datetime, interval: int) -> None:
    session.execute(
        update(DeviceAuthorization)
        .where(DeviceAuthorization.device_code_hash == device_code_hash)
        .values(last_polled_at=at, interval=interval)
        .execution_options(synchronize_session=False)
    )
