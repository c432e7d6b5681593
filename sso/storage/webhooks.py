"""Webhook subscriptions and the webhook outbox (issue 16).

The outbox is written by :func:`capture`, which every writer of audit rows calls with the rows
it writes (:mod:`sso.storage.audit`, the grant CTE of the token endpoint, the staff import):
the event rows go into the same transaction as the audit rows, so nothing is queued for a
change that rolls back and nothing is lost of one that commits.

Audit rows are written on the token endpoint's hot path, so :func:`capture` must cost nothing
when nobody listens: each process keeps the set of subscribed event types per database
(:class:`Interest`) and reads it again at most every :data:`INTEREST_TTL` seconds, with the
caller's own connection (one tiny SELECT a second, not one per audit row). Outbox rows are
written only for event types someone subscribed to. A change of subscriptions made in this
process is seen at once (:func:`forget_interest`); other processes see it within the TTL, and
a subscription receives the events that happen from then on (see
:func:`sso.storage.webhook_deliveries.dispatch`)."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, event, func, insert, or_, select
from sqlalchemy.orm import Session

from sso.core.crypto import random_id
from sso.db.models import WebhookEvent, WebhookSubscription

INTEREST_TTL = 1.0  # seconds a process trusts its copy of the subscribed event types
_EVENTS = cast(Table, WebhookEvent.__table__)
_INSERT_EVENT = insert(_EVENTS)
_SUBSCRIPTIONS = cast(Table, WebhookSubscription.__table__)
_READ_TYPES = select(_SUBSCRIPTIONS.c.event_types)
# A session that queued events: the delivery worker of this process is woken after its commit.
OUTBOX_WRITTEN = "webhooks.outbox_written"
outbox_signal = threading.Event()


@event.listens_for(Session, "after_commit")
def _wake_sender(session: Session) -> None:
    if session.info.pop(OUTBOX_WRITTEN, False):
        outbox_signal.set()


@event.listens_for(Session, "after_rollback")
def _nothing_queued(session: Session) -> None:
    session.info.pop(OUTBOX_WRITTEN, None)


@dataclass(frozen=True)
class Interest:
    """Which audit event types any subscription wants: exact names, ``noun.*`` and ``*``."""

    names: frozenset[str] = frozenset()
    nouns: frozenset[str] = frozenset()
    everything: bool = False

    @classmethod
    def of(cls, patterns: Iterable[str]) -> Interest:
        names: set[str] = set()
        nouns: set[str] = set()
        everything = False
        for p in patterns:
            if p == "*":
                everything = True
            elif p.endswith(".*"):
                nouns.add(p[:-2])
            else:
                names.add(p)
        return cls(frozenset(names), frozenset(nouns), everything)

    def __bool__(self) -> bool:
        return self.everything or bool(self.names) or bool(self.nouns)

    def wants(self, event: str) -> bool:
        return self.everything or event in self.names or event.split(".", 1)[0] in self.nouns


def matches(patterns: Sequence[str], event: str) -> bool:
    """Whether one subscription's ``event_types`` take ``event``."""
    return Interest.of(patterns).wants(event)


_interest: weakref.WeakKeyDictionary[Engine, tuple[float, Interest]] = weakref.WeakKeyDictionary()


def _interest_of(conn: Connection) -> Interest:
    engine = conn.engine
    cached = _interest.get(engine)
    t = time.monotonic()
    if cached is not None and t - cached[0] < INTEREST_TTL:
        return cached[1]
    patterns: list[str] = []
    for (types,) in conn.execute(_READ_TYPES):
        patterns.extend(str(p) for p in (types or ()))
    found = Interest.of(patterns)
    _interest[engine] = (t, found)
    return found


def forget_interest(session: Session) -> None:
    """Subscriptions changed in this session: read them again at the next audit row."""
    _interest.pop(session.connection().engine, None)


def capture(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Queue the audit rows (:func:`sso.storage.audit.event_values` shape) that a subscription
    wants, in the session's transaction. Returns how many were queued."""
    if not rows:
        return 0
    conn = session.connection()
    interest = _interest_of(conn)
    if not interest:
        return 0
    queued = [
        _outbox_row(r)
        for r in rows
        if isinstance(r.get("event"), str) and interest.wants(r["event"])
    ]
    if queued:
        conn.execute(_INSERT_EVENT, queued)
        session.info[OUTBOX_WRITTEN] = True
    return len(queued)


def _outbox_row(row: dict[str, Any]) -> dict[str, Any]:
    """What a payload may be built from later: the audit row without its user agent."""
    created = row["created_at"]
    kept = {
        k: row.get(k)
        for k in (
            "outcome",
            "actor_id",
            "target_type",
            "target_id",
            "client_id",
            "ip",
            "request_id",
        )
    }
    kept["details"] = dict(row.get("details") or {})
    kept["occurred_at"] = created.isoformat()
    return {
        "message_id": "msg_" + random_id(18),
        "event": row["event"],
        "payload": kept,
        "created_at": created,
        "dispatched_at": None,
    }


# ---------------------------------------------------------------------------- subscriptions


def add(session: Session, subscription: WebhookSubscription) -> WebhookSubscription:
    session.add(subscription)
    session.flush()
    forget_interest(session)
    return subscription


def get(session: Session, subscription_id: str) -> WebhookSubscription | None:
    return session.get(WebhookSubscription, subscription_id[:36])


def get_for_update(session: Session, subscription_id: str) -> WebhookSubscription | None:
    stmt = (
        select(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id[:36])
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


def delete(session: Session, subscription: WebhookSubscription) -> None:
    session.delete(subscription)
    session.flush()
    forget_interest(session)


def all_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(
        session.scalars(
            select(WebhookSubscription).order_by(
                WebhookSubscription.created_at, WebhookSubscription.id
            )
        )
    )


@dataclass(frozen=True)
class Page:
    rows: list[WebhookSubscription]
    number: int  # 1-based
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def search(
    session: Session, *, query: str = "", status: str | None = None, number: int = 1, size: int = 25
) -> Page:
    """Subscriptions whose URL or description contains ``query`` (any case), oldest first."""
    stmt = select(WebhookSubscription)
    text = query.strip().casefold()[:100]
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        stmt = stmt.where(
            or_(
                func.lower(WebhookSubscription.url).like(pattern, escape="\\"),
                func.lower(WebhookSubscription.description).like(pattern, escape="\\"),
            )
        )
    if status:
        stmt = stmt.where(WebhookSubscription.status == status)
    number = max(1, min(number, 100_000))
    rows = list(
        session.scalars(
            stmt.order_by(WebhookSubscription.created_at, WebhookSubscription.id)
            .offset((number - 1) * size)
            .limit(size + 1)
        )
    )
    return Page(rows[:size], number, len(rows) > size)


def paused_for_failing(session: Session) -> int:
    """How many subscriptions the worker paused because they kept failing (the dashboard)."""
    stmt = (
        select(func.count())
        .select_from(WebhookSubscription)
        .where(
            WebhookSubscription.status == "paused", WebhookSubscription.paused_reason == "failing"
        )
    )
    return int(session.execute(stmt).scalar_one())
