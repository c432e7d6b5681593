"""Spending a single-use row exactly once: the one primitive behind authorization codes, refresh
tokens, parked authorization requests (interactions), account tokens (activation, reset and
verification links), WebAuthn challenges, device codes, one-time codes and upstream login
round trips.

Every such row has ``expires_at`` and ``consumed_at``. Spending it is one conditional UPDATE::

    UPDATE t SET consumed_at = :at [, ...]
    WHERE key = :key [AND match...] AND consumed_at IS NULL AND expires_at > :at [AND guards...]

and the database lets exactly one of any number of concurrent callers change the row: on
PostgreSQL a second UPDATE waits for the first's row lock and re-checks ``consumed_at`` on the
committed row (READ COMMITTED), SQLite runs one writer at a time. Nothing is read before the
UPDATE (a read-then-write would let two callers both see an unspent row). Only when the UPDATE
changed nothing is the row read, to say why: :class:`Outcome` (:meth:`SingleUse.consume_once`;
:meth:`SingleUse.consume_row` hands the row back too, :meth:`SingleUse.try_consume` only says
whether this call won). ``at`` defaults to the one clock
(:func:`sso.core.clock.now`).

Each kind of row is described once, at import, by a :class:`SingleUse` (its table, its key,
the columns that must match for the row to count as the one asked for, the guards of its own
kind such as "not voided", and what else the UPDATE sets); the statements are built there, so
every call is a compiled-cache hit. They are public (:attr:`SingleUse.spend`,
:attr:`SingleUse.why`, :meth:`SingleUse.params`) so a path that runs on a connection of its own
(an async token endpoint) executes the very same statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, Table, bindparam, select, update
from sqlalchemy.orm import DeclarativeBase, Session

from sso.core.clock import now


class Outcome(StrEnum):
    """What one attempt to spend a row did (a ``str``: ``Outcome.OK == "ok"``)."""

    OK = "ok"  # this call spent it; no other call ever will
    REUSED = "reused"  # spent before (by another call, or voided by a newer one)
    EXPIRED = "expired"  # unspent, but its ``expires_at`` has passed
    UNKNOWN = "unknown"  # no such row (or one of another kind: a ``match`` column differs)
    # Unspent and live, but a guard of its kind said no (a voided link, a revoked refresh
    # token, a device request not approved yet); the repository says which.
    REFUSED = "refused"


def outcome_of(consumed_at: datetime | None, expires_at: datetime, at: datetime) -> Outcome:
    """Why a row the UPDATE did not change was not spent (the row exists)."""
    if consumed_at is not None:
        return Outcome.REUSED
    if expires_at <= at:
        return Outcome.EXPIRED
    return Outcome.REFUSED


M = TypeVar("M", bound=DeclarativeBase)


@dataclass(frozen=True)
class Consumed(Generic[M]):
    """The outcome and the row as it is after the attempt (None when unknown)."""

    outcome: Outcome
    row: M | None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


class SingleUse(Generic[M]):
    """One kind of single-use row.

    ``key``: the column a caller names the row by (a keyed hash, an id). ``match``: columns
    passed by keyword on every call that must also equal the stored value, else the row is
    :data:`Outcome.UNKNOWN` (an account token of another kind, a challenge of another purpose).
    ``guards``: further conditions of this kind (constant expressions on the model's columns).
    ``sets``: other columns the spending UPDATE sets (constants)."""

    def __init__(
        self,
        model: type[M],
        key: str,
        *,
        match: Sequence[str] = (),
        guards: Sequence[ColumnElement[bool]] = (),
        sets: Mapping[str, Any] | None = None,
    ) -> None:
        table = cast(Table, model.__table__)
        self.model = model
        self.match = tuple(match)
        at = bindparam("at", type_=table.c.expires_at.type)
        identity = [
            table.c[key] == bindparam("key"),
            *(table.c[name] == bindparam("m_" + name) for name in self.match),
        ]
        live = [table.c.consumed_at.is_(None), table.c.expires_at > at, *guards]
        values = {"consumed_at": at, **(sets or {})}
        # UPDATE ... (one row changed: this call won); SELECT consumed_at, expires_at (why not).
        self.spend = update(table).where(*identity, *live).values(values)
        self.why = select(table.c.consumed_at, table.c.expires_at).where(*identity)
        # The ORM forms hand back the model's object, refreshed in the session's identity map.
        self._spend_row = (
            update(model)
            .where(*identity, *live)
            .values(values)
            .returning(model)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        self._row = select(model).where(*identity).execution_options(populate_existing=True)

    def params(self, key: str, *, at: datetime | None = None, **match: Any) -> dict[str, Any]:
        """The statements' parameters: ``key``, ``at`` (default: now) and the match values."""
        if set(match) != set(self.match):
            raise TypeError(
                f"{self.model.__name__}: match {sorted(self.match)}, got {sorted(match)}"
            )
        params = {"key": key, "at": at or now()}
        params.update({"m_" + name: value for name, value in match.items()})
        return params

    def try_consume(
        self, session: Session, key: str, *, at: datetime | None = None, **match: Any
    ) -> bool:
        """The UPDATE alone (one Core statement on the session's connection, after flushing
        what the session holds): True for the one caller that spent the row. For callers that
        work out the reason themselves (refresh tokens look at the grant and the person too)."""
        params = self.params(key, at=at, **match)
        session.flush()
        result = session.connection().execute(self.spend, params)
        return result.rowcount == 1

    def consume_once(
        self, session: Session, key: str, *, at: datetime | None = None, **match: Any
    ) -> Outcome:
        """Spend the row; :data:`Outcome.OK` for exactly one caller, else why not."""
        params = self.params(key, at=at, **match)
        session.flush()
        conn = session.connection()
        if conn.execute(self.spend, params).rowcount == 1:
            return Outcome.OK
        state = conn.execute(self.why, params).first()
        if state is None:
            return Outcome.UNKNOWN
        return outcome_of(state[0], state[1], params["at"])

    def consume_row(
        self, session: Session, key: str, *, at: datetime | None = None, **match: Any
    ) -> Consumed[M]:
        """Spend the row and hand it back (attached to ``session``, as it is now): with
        RETURNING where the database has it (one round trip when it wins), else UPDATE then
        SELECT."""
        params = self.params(key, at=at, **match)
        session.flush()
        if session.connection().dialect.update_returning:
            row = session.scalars(self._spend_row, params).first()
            if row is not None:
                return Consumed(Outcome.OK, row)
        elif session.connection().execute(self.spend, params).rowcount == 1:
            return Consumed(Outcome.OK, session.scalars(self._row, params).one())
        found = session.scalars(self._row, params).first()
        if found is None:
            return Consumed(Outcome.UNKNOWN, None)
        stored = cast(Any, found)
        return Consumed(outcome_of(stored.consumed_at, stored.expires_at, params["at"]), found)


__all__ = ["Consumed", "Outcome", "SingleUse", "outcome_of"]
