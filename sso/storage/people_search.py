"""The admin console's people search: one page of people matching a query, and how many match.

The search matches any part of ``users.search_text`` (name, username, email and NIP folded
by :func:`sso.db.models.accounts.fold`: no accents, case-folded): each word of the query must
occur somewhere, ``LIKE '%word%'``, answered on PostgreSQL by the trigram GIN index
``ix_users_search_text``. A query whose words are all shorter than 3 characters has no
trigram to look up, so it is a name *prefix* instead (the b-tree range ``[prefix, prefix +
U+10FFFF)`` on ``display_name_search``). Pages are LIMIT/OFFSET in one of three orders, each
backed by an index ending in ``id`` (the tie-break); the offset is capped by the caller
(:data:`MAX_OFFSET`), so no page walks far. The total is exact up to a cap and estimated
beyond it (the planner's row estimate, or ``pg_class.reltuples`` with no filter).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from sso.db.models import User
from sso.db.models.accounts import fold

_TOP = "\U0010ffff"
SORTS = ("name", "created", "last_login")
MAX_OFFSET = 10_000  # deeper than this, narrow the search (Keycloak and authentik page alike)
EXACT_UP_TO = 10_000


@dataclass(frozen=True)
class UserQuery:
    text: str = ""  # as typed: folded here
    kind: str | None = None
    status: str | None = None
    agency_ids: Collection[int] | None = None  # None: any (or none)
    ids: Collection[str] | None = None  # None: anyone; else only these people (e.g. locked)
    sort: str = "name"  # one of SORTS
    descending: bool = False
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class Total:
    count: int
    estimated: bool  # True: ``count`` is the planner's estimate (more than the exact cap)


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(q: UserQuery, columns: Any) -> Select[Any]:
    stmt: Select[Any] = select(columns)
    # (Control characters match nothing, and PostgreSQL refuses a NUL in a query.)
    words = fold("".join(ch if ch.isprintable() else " " for ch in q.text)).split()
    if words and all(len(w) < 3 for w in words):
        prefix = " ".join(words)
        stmt = stmt.where(
            User.display_name_search >= prefix, User.display_name_search < prefix + _TOP
        )
    else:
        for word in words:
            stmt = stmt.where(User.search_text.like(_like(word), escape="\\"))
    if q.kind:
        stmt = stmt.where(User.kind == q.kind)
    if q.status:
        stmt = stmt.where(User.status == q.status)
    if q.agency_ids is not None:
        stmt = stmt.where(User.agency_id.in_(sorted(q.agency_ids)))
    if q.ids is not None:
        stmt = stmt.where(User.id.in_(sorted(q.ids)))
    return stmt


def matching_users(q: UserQuery) -> Select[Any]:
    """``SELECT users`` matching ``q``'s text and filters (its order and page are ignored):
    the same search as the admin console's list, for callers that page it themselves."""
    return _filtered(q, User)


SELECTIVE = 10_000  # fewer estimated matches than this: read the matches, then sort them


def _order(q: UserQuery, selective: bool) -> list[Any]:
    column: Any = User.created_at if q.sort == "created" else User.display_name_search
    return _directed(column, q.descending, selective)


def _directed(column: Any, descending: bool, selective: bool) -> list[Any]:
    """``column, id`` in the wanted direction. ``selective``: as ``coalesce(column, column)``,
    the same order that no index can provide, so PostgreSQL reads the few matches from the
    trigram index and sorts them, instead of walking the whole sort index backwards through
    rows that do not match (seen at 1M: 52,000 rows read for 51 of "adi harahap")."""
    if selective:
        column = func.coalesce(column, column)
    if descending:
        return [column.desc(), User.id.desc()]
    return [column.asc(), User.id.asc()]


def estimate_users(session: Session, q: UserQuery) -> int | None:
    """PostgreSQL's estimate of the matches (nothing executed), or None on SQLite. Taken once
    per request and given to :func:`search_users` and :func:`total_users`."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return _estimate(session, q)


def search_users(
    session: Session, q: UserQuery, estimate: int | None = None
) -> tuple[Sequence[User], bool]:
    """One page of people (OFFSET ``q.offset``, at most ``q.limit``) and whether more follow."""
    selective = estimate is not None and estimate < SELECTIVE and bool(q.text.strip())
    if q.sort == "last_login":
        return _by_last_login(session, q, selective)
    stmt = _filtered(q, User).order_by(*_order(q, selective)).offset(q.offset).limit(q.limit + 1)
    rows = list(session.scalars(stmt).unique().all())
    return rows[: q.limit], len(rows) > q.limit


def _by_last_login(session: Session, q: UserQuery, selective: bool) -> tuple[Sequence[User], bool]:
    """Newest sign-in first with the never-signed-in after them, or the reverse. As one
    ``ORDER BY … NULLS LAST`` neither backend could walk the ``(last_login_at, id)`` index in
    that order (a sort of every match instead), so the list is two index-ordered parts, the
    signed-in (by time) and the never-signed-in (by id), read one after the other."""

    def part(signed_in: bool, offset: int, limit: int) -> list[User]:
        stmt = _filtered(q, User).where(
            User.last_login_at.is_not(None) if signed_in else User.last_login_at.is_(None)
        )
        if signed_in:
            order = _directed(User.last_login_at, q.descending, False)
        else:
            order = _directed(User.id, q.descending, False)[:1]
        stmt = stmt.order_by(*order).offset(offset).limit(limit)
        return list(session.scalars(stmt).unique().all())

    def size(signed_in: bool, up_to: int) -> int:
        """How many rows the first part has, counted up to ``up_to`` (≤ the offset)."""
        stmt = _filtered(q, User.id).where(
            User.last_login_at.is_not(None) if signed_in else User.last_login_at.is_(None)
        )
        return int(
            session.scalar(select(func.count()).select_from(stmt.limit(up_to).subquery())) or 0
        )

    order: list[Any]
    if selective:  # few matches, sorted after reading them: one statement says it all
        column = User.last_login_at
        order = (
            [column.desc().nulls_last(), User.id.desc()]
            if q.descending
            else [column.asc().nulls_first(), User.id.asc()]
        )
        stmt = _filtered(q, User).order_by(*order).offset(q.offset).limit(q.limit + 1)
        found = list(session.scalars(stmt).unique().all())
        return found[: q.limit], len(found) > q.limit
    first_signed_in = q.descending  # newest first: the signed-in; oldest first: the never
    want = q.limit + 1
    rows = part(first_signed_in, q.offset, want)
    if len(rows) < want:
        before = q.offset + len(rows) if rows else size(first_signed_in, q.offset)
        rows += part(not first_signed_in, q.offset + len(rows) - before, want - len(rows))
    return rows[: q.limit], len(rows) > q.limit


def total_users(
    session: Session,
    q: UserQuery,
    exact_up_to: int = EXACT_UP_TO,
    *,
    page: tuple[int, bool] | None = None,
    estimate: int | None = None,
) -> Total:
    """How many people match: exact up to ``exact_up_to``, estimated beyond.

    ``page`` is what :func:`search_users` just returned for ``q`` (rows, more follow): on the
    last page the total is known without counting. On PostgreSQL the planner's estimate comes
    first (no rows read): at twice the cap or more it is the answer, since counting 10,001 rows
    of a common word costs more than the page itself (with the column's statistics target of
    1,000, an estimate twice the truth is rare, and the page says "about"); otherwise the count
    stops at the cap."""
    if page is not None and not page[1] and (page[0] or q.offset == 0):
        return Total(q.offset + page[0], estimated=False)
    guess = estimate if estimate is not None else estimate_users(session, q)
    if guess is not None and guess >= 2 * exact_up_to:
        return Total(guess, estimated=True)
    capped = _filtered(q, User.id).limit(exact_up_to + 1).subquery()
    counted = int(session.scalar(select(func.count()).select_from(capped)) or 0)
    if counted <= exact_up_to:
        return Total(counted, estimated=False)
    if guess is None:  # SQLite: no planner statistics, and small databases: count them all
        guess = int(
            session.scalar(select(func.count()).select_from(_filtered(q, User.id).subquery())) or 0
        )
    return Total(max(guess, exact_up_to + 1), estimated=True)


def _estimate(session: Session, q: UserQuery) -> int:
    """PostgreSQL's idea of how many rows match: ``pg_class.reltuples`` without a filter,
    else the planner's row estimate of the filtered scan (EXPLAIN, nothing executed)."""
    bind = session.get_bind()
    if (
        not q.text.strip()
        and not q.kind
        and not q.status
        and q.agency_ids is None
        and q.ids is None
    ):
        reltuples = session.scalar(
            text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'users'::regclass")
        )
        if reltuples is not None and int(reltuples) >= 0:
            return int(reltuples)
    compiled = _filtered(q, User.id).compile(  # (IN lists written out, as executed)
        dialect=bind.dialect, compile_kwargs={"render_postcompile": True}
    )
    plan = (
        session.connection()
        .exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params)
        .scalar()
    )
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"]) if plan else 0
