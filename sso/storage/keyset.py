"""Keyset pages (seek method) over one unique, ordered column: what a machine that walks a
whole list needs. Unlike OFFSET pages, a row inserted or deleted while a client walks the list
neither repeats nor skips others, and page 10,000 costs what page 1 costs (an index seek).

A page is asked for ``after`` a key (the next page), ``before`` a key (the previous page) or
from the start; it says whether rows exist before and after it, so a caller can offer both
links only where they lead somewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    rows: list[T]
    more_before: bool
    more_after: bool


def _past(key: InstrumentedAttribute[Any], value: Any, descending: bool) -> ColumnElement[bool]:
    """Rows that come after ``value`` in the list's order."""
    past: ColumnElement[bool] = key < value if descending else key > value
    return past


def _not_past(key: InstrumentedAttribute[Any], value: Any, descending: bool) -> ColumnElement[bool]:
    kept: ColumnElement[bool] = key >= value if descending else key <= value
    return kept


def page(
    session: Session,
    stmt: Select[Any],
    key: InstrumentedAttribute[Any],
    *,
    after: Any = None,
    before: Any = None,
    limit: int = 50,
    descending: bool = False,
) -> KeysetPage[Any]:
    """Up to ``limit`` rows of ``stmt`` (a ``select(Model)`` with its filters, no order)
    ordered by the unique column ``key``."""
    forward = key.desc() if descending else key.asc()
    backward = key.asc() if descending else key.desc()
    if before is None:
        query = stmt if after is None else stmt.where(_past(key, after, descending))
        rows = list(session.scalars(query.order_by(forward).limit(limit + 1)).all())
        more_after = len(rows) > limit
        rows = rows[:limit]
        more_before = after is not None and _exists(
            session, stmt.where(_not_past(key, after, descending))
        )
    else:
        query = stmt.where(key > before if descending else key < before)
        rows = list(session.scalars(query.order_by(backward).limit(limit + 1)).all())
        more_before = len(rows) > limit
        rows = rows[:limit][::-1]
        more_after = _exists(session, stmt.where(key <= before if descending else key >= before))
    return KeysetPage(rows, more_before, more_after)


def _exists(session: Session, stmt: Select[Any]) -> bool:
    return session.scalars(stmt.limit(1)).first() is not None


def keys_of(rows: Sequence[Any], key: str) -> tuple[Any, Any]:
    """The key values of the first and last row (None, None for an empty page)."""
    if not rows:
        return None, None
    return getattr(rows[0], key), getattr(rows[-1], key)


__all__ = ["KeysetPage", "keys_of", "page"]
