"""The PostgreSQL engine pings only connections that sat idle, and replaces dead ones unseen."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import event, text

from sso.db import engine as engine_module
from sso.db.engine import build_engine

_needs_postgres = pytest.mark.skipif(
    not os.environ.get("SSO_TEST_POSTGRES_URL"), reason="SSO_TEST_POSTGRES_URL is not set"
)


@pytest.fixture
def engine():  # type: ignore[no-untyped-def]
    built = build_engine(os.environ["SSO_TEST_POSTGRES_URL"], pool_size=1)
    yield built
    built.dispose()


def _pings(built) -> list[int]:  # type: ignore[no-untyped-def]
    counted: list[int] = []
    real = built.dialect.do_ping

    def counting(conn):  # type: ignore[no-untyped-def]
        counted.append(1)
        return real(conn)

    built.dialect.do_ping = counting
    return counted


@_needs_postgres
def test_a_connection_used_a_moment_ago_is_not_pinged(engine) -> None:  # type: ignore[no-untyped-def]
    pings = _pings(engine)
    for _ in range(5):
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    assert pings == []


@_needs_postgres
def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    engine, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    # The server drops the pooled connection (a restart, an idle timeout) while it is idle.
    killer = build_engine(os.environ["SSO_TEST_POSTGRES_URL"], pool_size=1)
    with killer.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        other.commit()
    killer.dispose()
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 0.0)
    pings = _pings(engine)
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_args: opened.append(1))
    with engine.connect() as conn:  # no error: the ping found it dead, the pool reconnected
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != first_pid
    assert pings == [1] and opened == [1]


def test_a_connection_killed_mid_transaction_is_a_database_error(runtime, backend) -> None:  # type: ignore[no-untyped-def]
    """Not a crash while the session closes (the after-commit audit feed of /metrics listens to
    rollbacks too): the error handlers then answer 503 with Retry-After."""
    from sqlalchemy.exc import OperationalError

    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    # The runtime's /metrics listen to the audit feed of its engine (build_app_runtime).
    killer = build_engine(os.environ["SSO_TEST_POSTGRES_URL"], pool_size=1)
    with pytest.raises(OperationalError), runtime.sessions() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        with killer.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()
        session.execute(text("SELECT 1"))
    killer.dispose()
    with runtime.sessions() as session:  # the pool recovers on the next checkout
        assert session.execute(text("SELECT 1")).scalar() == 1
