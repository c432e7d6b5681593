"""Engine construction: one engine per process, pool sized by settings, SQLite made safe for
threads (FastAPI runs sync routes in a thread pool) and WAL for concurrent readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def build_engine(database_url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
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
            # A deferred BEGIN: readers never block the writer (WAL). Writers are serialised by
            # SQLite's single write lock (busy_timeout waits for it); single-use values are
            # consumed by one conditional UPDATE, which is atomic on its own.
            conn.exec_driver_sql("BEGIN")

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
