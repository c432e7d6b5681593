"""The admin people search, measured at the SQL level on a database of 1,000,000 citizens (run
by ``bench/run.py --full`` on its seeded database, or on its own with ``--seed``).

One *request* is what ``GET /admin/users`` asks the database: the planner's estimate of the
matches (``estimate_users``, an EXPLAIN), the page (``search_users``: 50 rows, ``LIMIT 51
OFFSET …`` in the chosen order) and the total (``total_users``: none on a last page, the
estimate from 20,000 on, else a count that stops at 10,001 rows).
Both go through the admin UI's own functions, so the statements are the ones it sends. The
queries are drawn from the seeded rows, in the mix an admin types:

- ``part``: 3-7 letters from the middle of a name ("ahyud", "ijaya"): the surname search;
- ``word``: a whole given name or surname ("joko", "wulandari"), matching 2-8 % of everyone;
- ``two_words``: "sri hartono" (every word somewhere);
- ``login``: part of a username or email ("citizen04213", "0421377@warga");
- ``short``: 1-2 letters (no trigram: a name prefix on the b-tree instead);
- ``none``: no text (the whole list, sorted), with the sort drawn from the six orders.

Each query also gets a sort (name, created, last sign-in; either way) and page 1; a second
request for page 2 follows when there is one. The plans of three probes (EXPLAIN ANALYZE of the
statements really sent) go to ``out/<stamp>/search-plans.txt``. Prints one JSON line.

Standalone (a database of its own, seeded once; ``--seed`` is skipped when the rows are there):

    PYTHONPATH=. .venv/bin/python bench/search.py --seed 1000000 --out /tmp \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/sso_bench_search
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from sso.db.engine import build_engine
from sso.storage.people_search import SORTS, UserQuery, estimate_users, search_users, total_users

PAGE = 50
TIMEOUT_MS = 3000  # per statement: a plan that walks the whole table is cut off here
KINDS = ("part", "word", "word", "part", "two_words", "login", "short", "none")


def queries(session: Session, count: int) -> list[tuple[str, str, str]]:
    """``count`` (kind, text, sort) drawn from a sample of the rows."""
    rows = session.execute(
        text("SELECT display_name_search, username FROM users TABLESAMPLE SYSTEM (1) LIMIT :n"),
        {"n": count * 2},
    ).all()
    rnd = random.Random(13)
    out: list[tuple[str, str, str]] = []
    for i in range(count):
        name, login = rows[rnd.randrange(len(rows))]
        words = name.split()
        kind = KINDS[i % len(KINDS)]
        if kind == "part":
            word = max(words, key=len)
            size = rnd.randint(3, min(7, len(word)))
            start = rnd.randint(0, len(word) - size)
            q = word[start : start + size]
        elif kind == "word":
            q = rnd.choice(words)
        elif kind == "two_words":
            q = f"{words[0]} {words[-1]}"
        elif kind == "login":
            digits = login.removeprefix("citizen")
            q = rnd.choice([login[: rnd.randint(9, 12)], f"{digits}@warga", login])
        elif kind == "short":
            q = name[: rnd.randint(1, 2)]
        else:
            q = ""
        sort = rnd.choice(SORTS)
        out.append((kind, q, sort if rnd.random() < 0.5 else "-" + sort))
    return out


def request(session: Session, q: str, sort: str, page: int) -> tuple[int, bool, Any]:
    """What one GET /admin/users asks of the database: a page and the total."""
    query = UserQuery(
        text=q,
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        offset=(page - 1) * PAGE,
        limit=PAGE,
    )
    estimate = estimate_users(session, query)
    rows, more = search_users(session, query, estimate)
    total = total_users(session, query, page=(len(rows), more), estimate=estimate)
    return len(rows), more, total


def plan(session: Session, q: str, sort: str) -> str:
    """EXPLAIN ANALYZE of each statement one request really sends."""
    bind = session.get_bind()
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(bind, "before_cursor_execute", capture)
    try:
        request(session, q, sort, 1)
    finally:
        event.remove(bind, "before_cursor_execute", capture)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    parts = []
    for statement, parameters in seen:
        lines = [r[0] for r in raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
        parts.append(statement + "\n" + "\n".join(lines))
    return "\n\n".join(parts)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def measure(
    sessions: sessionmaker[Session], work: list[tuple[str, str, str]], budget: float
) -> dict[str, Any]:
    """Page 1 (and page 2 when there is one) of each query, until ``budget`` seconds are
    spent. A request cancelled by the statement timeout counts as taking TIMEOUT_MS."""
    first: list[float] = []
    second: list[float] = []
    by_kind: dict[str, list[float]] = {}
    rows = timeouts = estimated = 0
    deadline = time.perf_counter() + budget
    with sessions() as session:
        for kind, q, sort in work:
            if time.perf_counter() > deadline:
                break
            session.execute(text(f"SET statement_timeout = {TIMEOUT_MS}"))
            for page in (1, 2):
                t0 = time.perf_counter()
                try:
                    n, more, total = request(session, q, sort, page)
                except OperationalError:
                    timeouts += 1
                    elapsed, more = TIMEOUT_MS / 1000, False
                    session.rollback()
                else:
                    elapsed = time.perf_counter() - t0
                    rows += n
                    estimated += bool(page == 1 and total.estimated)
                (first if page == 1 else second).append(elapsed)
                if page == 1:
                    by_kind.setdefault(kind, []).append(elapsed)
                if not more:
                    break
            session.rollback()
            session.expunge_all()
    return {
        "p50_ms": pct(first, 50),
        "p90_ms": pct(first, 90),
        "p99_ms": pct(first, 99),
        "max_ms": max(first) * 1000,
        "mean_ms": statistics.fmean(first) * 1000,
        "page2_p50_ms": pct(second, 50) if second else None,
        "page2_p99_ms": pct(second, 99) if second else None,
        "by_kind_p50_ms": {k: round(pct(v, 50), 1) for k, v in sorted(by_kind.items())},
        "by_kind_p99_ms": {k: round(pct(v, 99), 1) for k, v in sorted(by_kind.items())},
        "queries": len(first),
        "rows": rows,
        "estimated_totals": estimated,
        "timeouts": timeouts,
    }


def seed(url: str, total: int) -> None:
    """Schema by Alembic, then citizens 1…``total`` with run.py's own seeding SQL (no
    password needed here), the secondary indexes dropped during the load and rebuilt."""
    import psycopg
    from run import SECONDARY_INDEXES_SQL, SEED_CITIZENS_SQL

    from sso.runtime import upgrade_database

    upgrade_database(url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
        have = int(row[0]) if row else 0
        if have >= total:
            print(f"seed: {have:,} people already there", file=sys.stderr)
            return
        t0 = time.monotonic()
        rebuild = [(r[0], r[1]) for r in conn.execute(SECONDARY_INDEXES_SQL)]
        for index, _ in rebuild:
            conn.execute(f"DROP INDEX {index}")
        for lo in range(have + 1, total + 1, 250_000):
            conn.execute(
                SEED_CITIZENS_SQL,
                {"lo": lo, "hi": min(total, lo + 249_999), "hash": "bench-search-no-login"},
            )
        # A sixteenth of them have signed in, at spread-out times (the last sign-in sort).
        conn.execute(
            "UPDATE users SET last_login_at = now() - (hashtext(id) & 1023) "
            "* interval '1 minute' WHERE id LIKE 'a%'"
        )
        conn.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in rebuild:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE users")
        print(f"seed: {total - have:,} citizens in {time.monotonic() - t0:.0f} s", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", type=float, default=60, help="seconds of measuring at most")
    ap.add_argument("--seed", type=int, default=0, help="first seed this many citizens")
    args = ap.parse_args()
    if args.seed:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        seed(args.database_url, args.seed)
    engine = build_engine(args.database_url, pool_size=2)
    sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    with sessions() as session:
        work = queries(session, args.queries)
        collation = session.execute(
            text("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        ).scalar_one()
        total = session.execute(text("SELECT count(*) FROM users")).scalar_one()
    measure(sessions, work[-16:], budget=10)  # warm the cache
    result = measure(sessions, work, budget=args.budget)
    plans: list[str] = []
    for probe, sort in (("joko", "name"), ("ahyud", "-last_login"), ("citizen04213", "name")):
        with sessions() as session:
            session.execute(text(f"SET statement_timeout = {TIMEOUT_MS * 3}"))
            try:
                full = plan(session, probe, sort)
            except OperationalError:
                full = "(EXPLAIN ANALYZE timed out)"
        plans.append(f"== {probe!r}, sort {sort}\n{full}\n")
    (args.out / "search-plans.txt").write_text("\n".join(plans))
    engine.dispose()
    title = (
        f"GET /admin/users at the SQL level, {total:,} people: page of {PAGE} + total "
        f"(exact to 10,000), any part of name/username/email/NIP, 6 sort orders "
        f"(database collation {collation})"
    )
    print(f"admin_ui: {result}", file=sys.stderr)
    print(
        json.dumps(
            {
                "collation": collation,
                "users": total,
                "variants": [
                    {
                        "name": "admin_ui",
                        "title": title,
                        "plan": "trigram GIN on users.search_text",
                        **result,
                    }
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
