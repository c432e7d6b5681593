"""The admin search by name prefix, measured at the SQL level on the bench database (run by
``bench/run.py --full`` once 1,000,000 citizens are seeded).

It calls the admin UI's own query, ``sso.storage.directory.search_users`` (people whose
``display_name_search``, ``COLLATE "C"`` on PostgreSQL since migration 0005 with the index
``ix_users_display_name_search (display_name_search, id)``, lies in ``[prefix, prefix +
U+10FFFF)``, i.e. starts with the prefix; ``ORDER BY display_name_search, id``; 50 per page;
the next page by keyset ``(name, id) > (last name, last id)``). When that module is not there
(an older tree), the same shape is written here with ``LIKE 'prefix%'``. Each prefix is 1 to 10
characters of a real name, drawn at random. The plans of two probes (early and late in the
alphabet) go to ``out/<stamp>/search-plans.txt``. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text, tuple_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from sso.db.engine import build_engine
from sso.db.models import User

PAGE = 50
TIMEOUT_MS = 3000  # per statement: a plan that walks the whole table is cut off here


def prefixes(session: Session, count: int) -> list[str]:
    names = session.scalars(
        text("SELECT display_name_search FROM users TABLESAMPLE SYSTEM (1) LIMIT :n"),
        {"n": count * 3},
    ).all()
    names = list(names)
    rnd = random.Random(7)
    rnd.shuffle(names)
    lengths = [1, 2, 3, 3, 4, 4, 5, 6, 8, 10]
    return [name[: rnd.choice(lengths)] for name in names[:count]]


def admin_ui(session: Session, prefix: str, after: tuple[str, str] | None
             ) -> tuple[list[Any], tuple[str, str] | None]:
    """One page of the admin UI's search and the cursor of the next page."""
    try:
        from sso.storage.directory import UserQuery, search_users
    except ImportError:  # a tree without the admin UI: the same query shape, written here
        stmt = (sa_select(User)
                .where(User.display_name_search.startswith(prefix, autoescape=True))
                .order_by(User.display_name_search, User.id).limit(PAGE))
        if after is not None:
            stmt = stmt.where(tuple_(User.display_name_search, User.id) > after)
        rows = list(session.scalars(stmt).unique().all())
        return rows, ((rows[-1].display_name_search, rows[-1].id) if len(rows) == PAGE
                      else None)
    found, cursor = search_users(session, UserQuery(field="name", prefix=prefix, after=after,
                                                    limit=PAGE))
    return list(found), cursor


def plan(session: Session, build: Callable[..., Any], prefix: str) -> tuple[str, str]:
    """The scan node of the plan for ``prefix``, and the whole EXPLAIN ANALYZE text: the
    statement the search really sends is captured from the engine and explained as is."""
    bind = session.get_bind()
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(bind, "before_cursor_execute", capture)
    try:
        build(session, prefix, None)
    finally:
        event.remove(bind, "before_cursor_execute", capture)
    statement, parameters = seen[-1]
    raw = session.connection().connection.driver_connection
    assert raw is not None
    lines = [r[0] for r in raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
    scan = next((ln.strip().lstrip("-> ").split("  (")[0] for ln in lines if "Scan" in ln), "?")
    return scan, "\n".join(lines)


def measure(sessions: sessionmaker[Session], build: Callable[..., Any], words: list[str],
            budget: float) -> dict[str, Any]:
    """Page 1 (and page 2 by keyset) for each prefix, until ``budget`` seconds are spent.
    A query cancelled by the statement timeout counts as taking TIMEOUT_MS."""
    first: list[float] = []
    second: list[float] = []
    rows = timeouts = 0
    deadline = time.perf_counter() + budget

    def timed(word: str, after: tuple[str, str] | None, into: list[float]
              ) -> tuple[list[Any], tuple[str, str] | None] | None:
        nonlocal timeouts
        t0 = time.perf_counter()
        try:
            found = build(session, word, after)
        except OperationalError:
            timeouts += 1
            into.append(TIMEOUT_MS / 1000)
            session.rollback()
            return None
        into.append(time.perf_counter() - t0)
        return found

    with sessions() as session:
        for word in words:
            if time.perf_counter() > deadline:
                break
            session.execute(text(f"SET statement_timeout = {TIMEOUT_MS}"))
            page = timed(word, None, first)
            if page is not None:
                rows += len(page[0])
                if page[1] is not None:
                    timed(word, page[1], second)
            session.rollback()
            session.expunge_all()

    def pct(values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    return {
        "p50_ms": pct(first, 50), "p90_ms": pct(first, 90), "p99_ms": pct(first, 99),
        "mean_ms": statistics.fmean(first) * 1000,
        "page2_p50_ms": pct(second, 50) if second else None,
        "queries": len(first), "rows": rows, "timeouts": timeouts,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", type=float, default=40, help="seconds per variant at most")
    args = ap.parse_args()
    engine = build_engine(args.database_url, pool_size=2)
    sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    with sessions() as session:
        words = prefixes(session, args.queries)
        collation = session.execute(
            text("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        ).scalar_one()
        total = session.execute(text("SELECT count(*) FROM users")).scalar_one()
    variants: list[dict[str, Any]] = []
    plans: list[str] = []
    steps: list[tuple[str, str, Callable[..., Any]]] = [
        ("admin_ui", f"admin search (the admin UI's search_users), {total:,} people: name "
                     f"prefix, ORDER BY (name, id), {PAGE} per page, keyset (database "
                     f"collation {collation})", admin_ui),
    ]
    for name, title, build in steps:
        measure(sessions, build, words[-10:], budget=5)  # warm cache and prepared statements
        result = measure(sessions, build, words, budget=args.budget)
        scans = []
        for probe in ("adi s", "yu"):  # early and late in the alphabet
            with sessions() as session:
                session.execute(text(f"SET statement_timeout = {TIMEOUT_MS * 3}"))
                try:
                    scan, full = plan(session, build, probe)
                except OperationalError:
                    scan, full = "timed out", "(EXPLAIN ANALYZE timed out)"
            scans.append(f"'{probe}': {scan}")
            plans.append(f"== {name}, prefix {probe!r}\n{full}\n")
        print(f"{name}: {result}", file=sys.stderr)
        variants.append({"name": name, "title": title, "plan": "; ".join(scans), **result})
    (args.out / "search-plans.txt").write_text("\n".join(plans))
    engine.dispose()
    print(json.dumps({"collation": collation, "users": total, "variants": variants}))


if __name__ == "__main__":
    main()
