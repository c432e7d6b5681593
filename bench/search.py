"""The admin search by name prefix, measured at the SQL level on the bench database (run by
``bench/run.py --full`` once 1,000,000 citizens are seeded).

The query is the shape the admin UI uses: people whose ``users.display_name_search`` (the
case-folded display name; ``COLLATE "C"`` on PostgreSQL since migration 0005, with the index
``ix_users_display_name_search (display_name_search, id)``) starts with what the admin typed
(``LIKE 'prefix%'``, wildcards in the input escaped), ``ORDER BY display_name_search, id``,
``LIMIT 50``, and the next page by keyset (``(name, id) > (last name, last id)``), written with
the provider's ORM model the way a repository function does. Each prefix is 1 to 10 characters
of a real name, drawn at random. The plans of two probes (early and late in the alphabet) go to
``out/<stamp>/search-plans.txt``. Prints one JSON line.
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

from sqlalchemy import select as sa_select
from sqlalchemy import text, tuple_
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


def admin_ui(prefix: str, after: tuple[str, str] | None) -> Any:
    stmt = (
        sa_select(User)
        .where(User.display_name_search.startswith(prefix, autoescape=True))
        .order_by(User.display_name_search, User.id)
        .limit(PAGE)
    )
    if after is not None:
        stmt = stmt.where(tuple_(User.display_name_search, User.id) > after)
    return stmt


def plan(session: Session, build: Callable[..., Any], prefix: str) -> tuple[str, str]:
    """The scan node of the plan for ``prefix``, and the whole EXPLAIN ANALYZE text."""
    stmt = build(prefix, None)
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    lines = [r[0] for r in session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))]
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

    def timed(stmt: Any, into: list[float]) -> list[Any] | None:
        nonlocal timeouts
        t0 = time.perf_counter()
        try:
            found = list(session.scalars(stmt).unique().all())
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
            page = timed(build(word, None), first)
            if page is not None:
                rows += len(page)
                if len(page) == PAGE:
                    last = page[-1]
                    timed(build(word, (last.display_name_search, last.id)), second)
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
        ("admin_ui", f"admin search, {total:,} people: prefix LIKE, ORDER BY (name, id), "
                     f"LIMIT {PAGE}, keyset (database collation {collation})", admin_ui),
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
