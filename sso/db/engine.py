"""Engine construction: one engine per process, pool sized by settings, SQLite made safe for
threads (FastAPI runs sync routes in a thread pool) and WAL for concurrent readers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

# A pooled connection used less than this many seconds ago is handed out without a ping.
PING_AFTER_IDLE = 2.0


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
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )
    engine = create_engine(url, **kwargs)
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """``pool_pre_ping``, but only for a connection that sat idle ``PING_AFTER_IDLE`` seconds.

    A ping on every checkout is a round trip on every request (bench/README.md). Under load a
    connection comes back to the pool and out again within milliseconds, and one that worked a
    moment ago is as good as pinged; one that waited longer (a server restart, a dropped idle
    connection) is pinged and, when dead, replaced before the request sees it (the pool retries
    the checkout after ``DisconnectionError``). A connection that dies within the window fails
    its statement instead: SQLAlchemy then invalidates it and every pooled connection opened
    before it, and the request gets the database-unavailable answer (503), as during any
    outage."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE:
            return
        if since is None:
            return  # a new connection: it was just opened
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError("stale pooled connection") from exc
