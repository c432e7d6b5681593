"""The audit events a transaction wrote, published to subscribers once it commits.

Every writer of audit rows (:mod:`sso.storage.audit`, the grant statement of the token
endpoint, the staff import) calls :func:`note` with the rows it writes; the names and details
wait in ``session.info`` and are handed to the subscribers of the session's engine
(:func:`subscribe`) after the session's outermost transaction commits. A rolled-back
transaction publishes nothing, and a rolled-back savepoint drops only what was noted inside it.
Subscribers (the metrics of :mod:`sso.web.metrics`) need not know SQL, and services need not
know the subscribers.

A subscriber runs in the committing thread, after the commit: it must be quick and must not
raise (an error is swallowed, the commit stands)."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, SessionTransaction

CommittedEvent = tuple[str, dict[str, Any]]  # (event name, details)
Subscriber = Callable[[Sequence[CommittedEvent]], None]

_PENDING = "audit_feed.pending"  # session.info: [(transaction, name, details), ...]
_lock = threading.Lock()
_subscribers: weakref.WeakKeyDictionary[Engine, tuple[Subscriber, ...]] = (
    weakref.WeakKeyDictionary()
)


def subscribe(engine: Engine, subscriber: Subscriber) -> None:
    """Call ``subscriber`` with the audit events of every transaction committed through
    ``engine`` from now on."""
    with _lock:
        _subscribers[engine] = (*_subscribers.get(engine, ()), subscriber)


def unsubscribe(engine: Engine, subscriber: Subscriber) -> None:
    with _lock:
        left = tuple(s for s in _subscribers.get(engine, ()) if s is not subscriber)
        if left:
            _subscribers[engine] = left
        else:
            _subscribers.pop(engine, None)


def note(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """The audit rows (:func:`sso.storage.audit.event_values` shape) just written in the
    session's current transaction."""
    if not rows:
        return
    current = session.get_nested_transaction() or session.get_transaction()
    pending = session.info.setdefault(_PENDING, [])
    for row in rows:
        name = row.get("event")
        if isinstance(name, str):
            details = row.get("details")
            pending.append((current, str(name), details if isinstance(details, dict) else {}))


@event.listens_for(Session, "after_commit")
def _published(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    nested = session.get_nested_transaction()
    if nested is not None:  # a savepoint was released: its events now belong to its parent
        parent = nested.parent
        session.info[_PENDING] = [(parent if t is nested else t, n, d) for t, n, d in pending]
        return
    del session.info[_PENDING]
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    subscribers = _subscribers.get(engine, ()) if isinstance(engine, Engine) else ()
    found = [(name, details) for _t, name, details in pending]
    for subscriber in subscribers:
        with contextlib.suppress(Exception):
            subscriber(found)


@event.listens_for(Session, "after_soft_rollback")
def _dropped(session: Session, previous: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if previous.nested:  # only what the savepoint wrote is gone
        session.info[_PENDING] = [p for p in pending if p[0] is not previous]
    elif previous.parent is None:
        del session.info[_PENDING]


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    # A session closed without commit or rollback (its connection rolls back on return to
    # the pool) leaves nothing behind for its next transaction.
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_PENDING, None)
