"""Webhook deliveries: fanning the outbox out to subscriptions, claiming due deliveries, the
outcome of each attempt, and the delivery log.

Both steps are safe in any number of processes at once. :func:`dispatch` and
:func:`claim_due` are one ``UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)
RETURNING …`` each: on PostgreSQL ``SKIP LOCKED`` gives concurrent workers disjoint batches;
on SQLite every transaction takes the single write lock first (``BEGIN IMMEDIATE``), so the
workers go one at a time, and the outer ``WHERE`` repeats the condition. A claimed delivery's
``next_attempt_at`` is pushed past a lease: a worker killed while sending lets the lease run
out and another worker sends it again (at least once; receivers deduplicate by
``webhook-id``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from sso.storage.webhooks import matches

D, E, S = WebhookDelivery, WebhookEvent, WebhookSubscription
MAX_ERROR = 500


def dispatch(session: Session, *, limit: int = 200) -> int:
    """Turn up to ``limit`` new outbox events into deliveries, one per subscription that
    wants the event and existed when it happened (a paused one too: its deliveries wait for
    it to resume). Returns the number of events taken. The caller commits."""
    t = now()
    new = (
        select(E.id)
        .where(E.dispatched_at.is_(None))
        .order_by(E.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    taken = session.execute(
        update(E)
        .where(E.id.in_(new.scalar_subquery()), E.dispatched_at.is_(None))
        .values(dispatched_at=t)
        .returning(E.id, E.event, E.created_at)
        .execution_options(synchronize_session=False)
    ).all()
    if not taken:
        return 0
    subscriptions = session.execute(select(S.id, S.event_types, S.created_at)).all()
    rows: list[dict[str, Any]] = []
    for event_id, name, happened in taken:
        for sub_id, types, created in subscriptions:
            if created <= happened and matches(list(types or ()), name):
                rows.append({"subscription_id": sub_id, "event_id": event_id, "next_attempt_at": t})
    for row in rows:
        session.add(D(**row, status="pending", attempts=0, created_at=t))
    session.flush()
    return len(taken)


@dataclass(frozen=True)
class Claimed:
    """A delivery this caller holds until its lease ends; ``attempts`` counts this one."""

    id: str
    subscription_id: str
    event_id: int
    attempts: int
    give_up_at: datetime


def claim_due(
    session: Session, *, lease: timedelta, window: timedelta, limit: int = 50
) -> list[Claimed]:
    """Claim due deliveries of active subscriptions. The caller commits at once, so the claim
    is visible before anything is sent. The retry window starts at the first attempt."""
    t = now()
    due = (
        select(D.id)
        .join(S, S.id == D.subscription_id)
        .where(D.status == "pending", D.next_attempt_at <= t, S.status == "active")
        .order_by(D.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=D)
    )
    result = session.execute(
        update(D)
        .where(D.id.in_(due.scalar_subquery()), D.status == "pending", D.next_attempt_at <= t)
        .values(
            attempts=D.attempts + 1,
            next_attempt_at=t + lease,
            give_up_at=func.coalesce(D.give_up_at, t + window),
        )
        .returning(D.id, D.subscription_id, D.event_id, D.attempts, D.give_up_at)
        .execution_options(synchronize_session=False)
    ).all()
    return [
        Claimed(r.id, r.subscription_id, r.event_id, r.attempts, r.give_up_at or t + window)
        for r in result
    ]


def record_attempt(
    session: Session,
    claimed: Claimed,
    *,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    next_attempt_at: datetime | None,
) -> str:
    """Write one attempt and the delivery's new state: ``delivered``, ``pending`` (again at
    ``next_attempt_at``) or ``failed`` (its window is over, or ``next_attempt_at`` is None
    after an error). Returns the new status."""
    t = now()
    session.add(
        WebhookAttempt(
            delivery_id=claimed.id,
            attempted_at=t,
            status_code=status_code,
            error=(error or None) and error[:MAX_ERROR],
            duration_ms=duration_ms,
        )
    )
    values: dict[str, Any] = {
        "last_attempt_at": t,
        "last_status_code": status_code,
        "last_error": (error or None) and error[:MAX_ERROR],
    }
    if error is None:
        values.update(status="delivered", delivered_at=t)
    elif next_attempt_at is None or next_attempt_at >= claimed.give_up_at:
        values.update(status="failed")
    else:
        values.update(next_attempt_at=next_attempt_at)
    session.execute(
        update(D)
        .where(D.id == claimed.id, D.status == "pending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return str(values.get("status", "pending"))


def event_of(session: Session, event_id: int) -> WebhookEvent | None:
    return session.get(WebhookEvent, event_id)


def get(session: Session, delivery_id: str) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id[:36])


def send_again(session: Session, delivery: WebhookDelivery) -> None:
    """A delivered or failed delivery goes out once more, with a new 24-hour window."""
    delivery.status = "pending"
    delivery.next_attempt_at = now()
    delivery.give_up_at = None
    delivery.delivered_at = None
    session.flush()


def resume(session: Session, subscription_id: str) -> None:
    """A subscription resumed: what waited for it is due now, each with a fresh window."""
    session.execute(
        update(D)
        .where(D.subscription_id == subscription_id, D.status == "pending")
        .values(next_attempt_at=now(), give_up_at=None)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class LogPage:
    rows: list[tuple[WebhookDelivery, WebhookEvent]]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def log(
    session: Session,
    subscription_id: str,
    *,
    status: str | None = None,
    number: int = 1,
    size: int = 25,
) -> LogPage:
    """A subscription's deliveries, newest first, with their events."""
    stmt = select(D, E).join(E, E.id == D.event_id).where(D.subscription_id == subscription_id)
    if status:
        stmt = stmt.where(D.status == status)
    number = max(1, min(number, 100_000))
    rows = session.execute(
        stmt.order_by(D.created_at.desc(), E.id.desc()).offset((number - 1) * size).limit(size + 1)
    ).all()
    found = [(d, e) for d, e in rows]
    return LogPage(found[:size], number, len(found) > size)


def attempts_of(session: Session, delivery_id: str) -> list[WebhookAttempt]:
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.id)
        )
    )


def counts(session: Session, subscription_id: str) -> dict[str, int]:
    """Deliveries of a subscription per status."""
    stmt = (
        select(D.status, func.count())
        .where(D.subscription_id == subscription_id)
        .group_by(D.status)
    )
    return {str(s): int(n) for s, n in session.execute(stmt).all()}


def purge(session: Session, *, older_than: datetime) -> int:
    """Delete finished deliveries (and their attempts) and fanned-out events older than
    ``older_than`` (``sso gc``). Pending ones are kept, however old."""
    from sqlalchemy import delete

    done = session.execute(
        delete(D)
        .where(D.status != "pending", D.created_at < older_than)
        .execution_options(synchronize_session=False)
    )
    orphan = ~select(D.id).where(D.event_id == E.id).exists()
    session.execute(
        delete(E)
        .where(E.dispatched_at.is_not(None), E.created_at < older_than, orphan)
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
