"""Engine construction: one engine per process, pool sized by settings, SQLite made safe for
threads (FastAPI runs sync routes in a thread pool) and WAL for concurrent readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def build_engine(
    database_url: str, *, pool_size: int = 10, echo: bool = False, sqlite_begin: str = "IMMEDIATE"
) -> Engine:
    """An engine for ``database_url``.

    On SQLite, transactions start with ``BEGIN IMMEDIATE`` by default: a transaction that reads
    and then writes would otherwise fail at once ("database is locked") whenever another
    connection committed in between, since SQLite cannot upgrade a stale read snapshot. Taking
    the single write lock up front serialises transactions instead (waiting up to the busy
    timeout), which is right for the development database; production runs PostgreSQL.
    """
    if sqlite_begin not in ("IMMEDIATE", "DEFERRED"):
        raise ValueError("sqlite_begin must be IMMEDIATE or DEFERRED")
    url = make_url(database_url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy emit BEGIN itself so transactions really start where we say.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql(f"BEGIN {sqlite_begin}")

        return engine
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    kwargs.update(
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )
    return create_engine(url, **kwargs)
