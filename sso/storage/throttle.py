"""Failure counters in the database (the guessing protection's backend without Redis).

:func:`hit` is one conditional ``UPDATE … RETURNING`` (or, for a new key, an insert that does
nothing on conflict): it counts an attempt and, when the count reaches a multiple of the
threshold, sets the lock in the same statement. A locked counter is not updated at all, so of
any number of concurrent attempts exactly ``threshold`` get through before the lock, on every
backend (PostgreSQL re-checks the WHERE on the row another transaction just committed; SQLite
serialises writers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from sso.db.models import ThrottleCounter
from sso.db.types import UTCDateTime


@dataclass(frozen=True)
class Limit:
    """``threshold`` attempts, then a lock of ``lock_seconds`` that doubles with every further
    ``threshold`` attempts up to ``max_lock_seconds``; the count is forgotten ``window_seconds``
    after the last attempt (or after the lock ends)."""

    threshold: int
    lock_seconds: int
    max_lock_seconds: int
    window_seconds: int

    def schedule(self) -> list[int]:
        """Lock durations of the 1st, 2nd, … lock; the last one repeats."""
        durations = [min(self.lock_seconds, self.max_lock_seconds)]
        while durations[-1] < self.max_lock_seconds:
            durations.append(min(durations[-1] * 2, self.max_lock_seconds))
        return durations


@dataclass(frozen=True)
class State:
    count: int
    locked_until: datetime | None


def _at(value: datetime) -> ColumnElement[Any]:
    return literal(value, UTCDateTime())


def hit(session: Session, key: str, limit: Limit, t: datetime) -> tuple[bool, State]:
    """Count one attempt unless ``key`` is locked; (counted, state after)."""
    c = ThrottleCounter
    window = timedelta(seconds=limit.window_seconds)
    durations = limit.schedule()
    new_count = case((c.window_ends_at <= t, 1), else_=c.count + 1)
    locks = [t + timedelta(seconds=d) for d in durations]
    lock_when = [(new_count == limit.threshold * (i + 1), _at(at)) for i, at in enumerate(locks)]
    end_when = [(cond, _at(at + window)) for (cond, _), at in zip(lock_when, locks, strict=True)]
    every = (new_count % limit.threshold) == 0
    stmt = (
        update(c)
        .where(c.key == key, or_(c.locked_until.is_(None), c.locked_until <= t))
        .values(
            count=new_count,
            locked_until=case(*lock_when, (every, _at(locks[-1])), else_=None),
            window_ends_at=case(*end_when, (every, _at(locks[-1] + window)), else_=_at(t + window)),
        )
        .returning(c.count, c.locked_until)
        .execution_options(synchronize_session=False)
    )
    for _ in range(3):
        row = session.execute(stmt).first()
        if row is not None:
            return True, State(int(row[0]), row[1])
        current = peek(session, key, t)
        if current.locked_until is not None:
            return False, current
        # No row yet: the first attempt. A concurrent first attempt may win the insert; then
        # the UPDATE above counts this one.
        lock = locks[0] if limit.threshold == 1 else None
        values = {
            "key": key,
            "count": 1,
            "locked_until": lock,
            "window_ends_at": (lock or t) + window,
        }
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stored = session.execute(
            insert(c).values(**values).on_conflict_do_nothing().returning(c.key)
        ).first()
        if stored is not None:
            return True, State(1, lock)
    raise RuntimeError(f"throttle counter {key[:8]}… kept changing")


_counters = cast(Table, ThrottleCounter.__table__)
# Built once: every client authentication at /token peeks, and building the statement (and its
# cache key) per request was a quarter of a client_credentials token's Python time
# (bench/README.md, issue 17). Run on the session's connection: no ORM execute layer.
_peek = select(_counters.c.count, _counters.c.window_ends_at, _counters.c.locked_until).where(
    _counters.c.key == bindparam("key")
)


def peek(session: Session, key: str, t: datetime) -> State:
    """The counter as it stands (count 0 once its window has passed)."""
    row = session.connection().execute(_peek, {"key": key}).first()
    if row is None:
        return State(0, None)
    count, window_ends_at, locked_until = row
    locked = locked_until if locked_until is not None and locked_until > t else None
    return State(int(count) if window_ends_at > t else 0, locked)


def reset(session: Session, keys: Iterable[str]) -> None:
    wanted = list(keys)
    if wanted:
        session.execute(delete(ThrottleCounter).where(ThrottleCounter.key.in_(wanted)))


def delete_expired(session: Session, t: datetime) -> int:
    """Counters whose window (always after any lock) has passed."""
    result = session.execute(delete(ThrottleCounter).where(ThrottleCounter.window_ends_at <= t))
    return int(getattr(result, "rowcount", 0) or 0)
