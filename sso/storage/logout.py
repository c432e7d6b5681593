"""The back-channel logout outbox (``backchannel_logout_deliveries``).

A delivery is enqueued in the same transaction that ends the session, so a logout that commits
always has its notifications, and one that rolls back has none. Senders *claim* due rows before
posting: the claim is one ``UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED])
RETURNING …`` that counts the attempt and pushes ``next_attempt_at`` past a lease. On PostgreSQL
``SKIP LOCKED`` lets several workers and hosts take disjoint batches without waiting on each
other; on SQLite the single write lock serialises the statement, and the outer ``WHERE`` repeats
the due condition, so a row is claimed by exactly one caller on both. A sender that dies
mid-delivery simply lets the lease run out: the row becomes due again and another worker
retries it. The HTTP call happens outside any transaction; its outcome is written afterwards
with :func:`mark_delivered`, :func:`mark_retry` or :func:`mark_failed`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import BackchannelLogoutDelivery as Delivery

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this caller holds until its lease ends; ``attempts`` includes this one."""

    id: str
    client_id: str
    user_id: str
    session_id: str | None
    payload: dict[str, Any]
    attempts: int


def enqueue(
    session: Session,
    *,
    client_id: str,
    user_id: str,
    session_id: str | None,
    payload: dict[str, Any] | None = None,
) -> Delivery:
    row = Delivery(
        client_id=client_id,
        user_id=user_id,
        session_id=session_id,
        payload=dict(payload or {}),
        attempts=0,
        next_attempt_at=now(),
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, delivery_id: str) -> Delivery | None:
    return session.get(Delivery, delivery_id, populate_existing=True)


def _pending() -> list[Any]:
    return [Delivery.delivered_at.is_(None), Delivery.failed_at.is_(None)]


def claim_due(
    session: Session,
    *,
    lease: timedelta,
    limit: int = 50,
    ids: Collection[str] | None = None,
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due deliveries (only among ``ids`` when given). The caller commits
    at once, so the claim is visible to other workers before any request is sent."""
    if limit <= 0 or (ids is not None and not ids):
        return []
    t = now()
    due = (
        select(Delivery.id)
        .where(*_pending(), Delivery.next_attempt_at <= t)
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
    )
    if ids is not None:
        due = due.where(Delivery.id.in_(list(ids)))
    result = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()), *_pending(), Delivery.next_attempt_at <= t)
        .values(attempts=Delivery.attempts + 1, next_attempt_at=t + lease)
        .returning(
            Delivery.id,
            Delivery.client_id,
            Delivery.user_id,
            Delivery.session_id,
            Delivery.payload,
            Delivery.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    return [
        ClaimedDelivery(
            id=row.id,
            client_id=row.client_id,
            user_id=row.user_id,
            session_id=row.session_id,
            payload=dict(row.payload or {}),
            attempts=row.attempts,
        )
        for row in result
    ]


def _finish(session: Session, delivery_id: str, **values: Any) -> bool:
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, *_pending())
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_delivered(session: Session, delivery_id: str) -> bool:
    return _finish(session, delivery_id, delivered_at=now(), last_error=None)


def mark_retry(
    session: Session, delivery_id: str, *, error: str, next_attempt_at: datetime
) -> bool:
    return _finish(
        session, delivery_id, last_error=error[:MAX_ERROR_LENGTH], next_attempt_at=next_attempt_at
    )


def mark_failed(session: Session, delivery_id: str, *, error: str) -> bool:
    """Give up on a delivery (attempts exhausted, or nowhere to send it)."""
    return _finish(session, delivery_id, failed_at=now(), last_error=error[:MAX_ERROR_LENGTH])
