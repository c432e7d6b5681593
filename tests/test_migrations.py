"""Migrations are the only way the schema is made: on SQLite and PostgreSQL, `upgrade head`
matches the models exactly, `downgrade base` then `upgrade head` works, UTC datetimes round-trip,
and the audit log is append-only.

Every test gets a database of its own (a temporary SQLite file, or a throwaway PostgreSQL
database made from ``SSO_TEST_POSTGRES_URL`` and dropped afterwards), never the shared one the
other tests use.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session

import sso.db.models  # noqa: F401  (registers every table on Base.metadata)
from sso.db.base import Base
from sso.db.engine import build_engine
from sso.db.models import AuditEvent
from sso.runtime import (
    alembic_config,
    current_revision,
    head_revision,
    migration_head,
    schema_revision,
    upgrade_database,
)

POSTGRES_URL = os.environ.get("SSO_TEST_POSTGRES_URL")
ALEMBIC_TABLE = "alembic_version"
WIB = timezone(timedelta(hours=7), "WIB")  # Tangerang Selatan's local time


def _admin_engine() -> Engine:
    assert POSTGRES_URL
    url = make_url(POSTGRES_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of this test's own."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin = _admin_engine()
    # Named after the base database so .ci/run's clean-up of `<db>_%` also catches leftovers.
    name = f"{admin.url.database}_mig_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def migrated(fresh_url: str) -> Iterator[Engine]:
    """An engine on a fresh database upgraded to head."""
    upgrade_database(fresh_url)
    engine = build_engine(fresh_url, pool_size=2)
    yield engine
    engine.dispose()


def _schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {ALEMBIC_TABLE}


def test_upgrade_head_matches_the_models(migrated: Engine) -> None:
    assert current_revision(migrated) == head_revision()
    # What /readyz reads without importing Alembic agrees with Alembic.
    assert schema_revision(migrated) == current_revision(migrated)
    assert migration_head() == head_revision()
    differences = _schema_differences(migrated)
    assert not differences, "migrations and models differ (write a migration):\n" + "\n".join(
        repr(diff) for diff in differences
    )
    assert _tables(migrated) == set(Base.metadata.tables)


def test_downgrade_base_then_upgrade_head(fresh_url: str, migrated: Engine) -> None:
    before = _tables(migrated)
    migrated.dispose()

    command.downgrade(alembic_config(fresh_url), "base")
    assert _tables(migrated) == set(), "downgrade base left tables behind"
    assert current_revision(migrated) is None
    assert schema_revision(migrated) is None
    if migrated.dialect.name == "postgresql":
        assert not _audit_trigger_exists(migrated), "downgrade base left the audit trigger"

    upgrade_database(fresh_url)
    migrated.dispose()
    assert _tables(migrated) == before
    assert current_revision(migrated) == head_revision()
    assert not _schema_differences(migrated)
    if migrated.dialect.name == "postgresql":
        assert _audit_trigger_exists(migrated)


def _audit_trigger_exists(engine: Engine) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_trigger WHERE tgname = 'audit_events_append_only'")
        ).first()
    return found is not None


def _add_event(engine: Engine, created_at: datetime, name: str = "test.roundtrip") -> int:
    with Session(engine) as session:
        event = AuditEvent(event=name, created_at=created_at, details={"k": "v"})
        session.add(event)
        session.commit()
        return event.id


def test_utc_datetimes_round_trip(migrated: Engine) -> None:
    local = datetime(2026, 8, 17, 10, 45, 30, 123456, tzinfo=WIB)
    event_id = _add_event(migrated, local)

    with migrated.connect() as conn:
        if migrated.dialect.name == "postgresql":
            # A session in another zone must still read back UTC.
            conn.execute(text("SET TIME ZONE 'Asia/Jakarta'"))
            stored = conn.execute(
                text("SELECT created_at AT TIME ZONE 'UTC' FROM audit_events WHERE id = :id"),
                {"id": event_id},
            ).scalar_one()
        else:
            stored = conn.execute(
                text("SELECT created_at FROM audit_events WHERE id = :id"), {"id": event_id}
            ).scalar_one()
        read = conn.execute(
            select(AuditEvent.created_at).where(AuditEvent.id == event_id)
        ).scalar_one()

    # Stored as UTC wall time, whatever zone it was given in.
    assert str(stored).startswith("2026-08-17 03:45:30.123456")
    assert read.tzinfo is not None and read.utcoffset() == timedelta(0)
    assert read == local
    assert read == datetime(2026, 8, 17, 3, 45, 30, 123456, tzinfo=UTC)

    with Session(migrated) as session:
        loaded = session.get(AuditEvent, event_id)
        assert loaded is not None
        assert loaded.created_at == local and loaded.created_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(migrated: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        _add_event(migrated, datetime(2026, 8, 17, 10, 45))  # noqa: DTZ001


def test_orm_refuses_to_change_audit_events(migrated: Engine) -> None:
    event_id = _add_event(migrated, datetime.now(UTC))
    with Session(migrated) as session:
        event = session.get(AuditEvent, event_id)
        assert event is not None
        event.outcome = "failure"
        with pytest.raises(PermissionError, match="append-only"):
            session.flush()
        session.rollback()

        event = session.get(AuditEvent, event_id)
        assert event is not None
        session.delete(event)
        with pytest.raises(PermissionError, match="append-only"):
            session.flush()
        session.rollback()

    with Session(migrated) as session:
        event = session.get(AuditEvent, event_id)
        assert event is not None and event.outcome == "success"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # the trigger is PostgreSQL's
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = 'failure' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ],
)
def test_database_refuses_to_change_audit_events(migrated: Engine, statement: str) -> None:
    event_id = _add_event(migrated, datetime.now(UTC))
    with pytest.raises(DBAPIError, match="append-only"), migrated.begin() as conn:
        conn.execute(text(statement), {"id": event_id})
    with migrated.connect() as conn:
        outcome = conn.execute(
            text("SELECT outcome FROM audit_events WHERE id = :id"), {"id": event_id}
        ).scalar_one()
    assert outcome == "success"


def test_0008_fills_the_search_column_and_last_login(fresh_url: str) -> None:
    """0008 folds the rows already there into ``search_text`` (the application's own folding)
    and takes ``last_login_at`` from their sessions; its downgrade removes both again."""
    import sqlalchemy as sa

    from sso.db.models import User
    from sso.db.types import JSONType, UTCDateTime

    command.upgrade(alembic_config(fresh_url), "0007")
    engine = build_engine(fresh_url, pool_size=2)
    t = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    users = sa.table(
        "users",
        *(
            sa.column(c)
            for c in (
                "id",
                "kind",
                "username",
                "username_normalized",
                "email",
                "email_normalized",
                "email_verified",
                "phone_verified",
                "display_name",
                "display_name_search",
                "locale",
                "status",
                "nip",
                "version",
            )
        ),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    sessions = sa.table(
        "login_sessions",
        *(sa.column(c) for c in ("id", "token_hash", "user_id", "acr")),
        sa.column("amr", JSONType),
        *(
            sa.column(c, UTCDateTime())
            for c in ("auth_time", "created_at", "last_seen_at", "expires_at")
        ),
    )
    with engine.begin() as conn:
        for uid, name, nip in (("u1", "Inés Jokowati", "198001012005011001"), ("u2", "Budi", None)):
            conn.execute(
                sa.insert(users).values(
                    id=uid,
                    kind="staff" if nip else "citizen",
                    username=uid,
                    username_normalized=uid,
                    email=f"{uid}@Contoh.id",
                    email_normalized=f"{uid}@contoh.id",
                    email_verified=True,
                    phone_verified=False,
                    display_name=name,
                    display_name_search=name.casefold(),
                    locale="id",
                    status="active",
                    nip=nip,
                    version=1,
                    created_at=t,
                    updated_at=t,
                )
            )
        for i, at in enumerate((t, t + timedelta(days=2))):
            conn.execute(
                sa.insert(sessions).values(
                    id=f"s{i}",
                    token_hash=f"h{i}",
                    user_id="u1",
                    acr="1",
                    amr=["pwd"],
                    auth_time=at,
                    created_at=at,
                    last_seen_at=at,
                    expires_at=at,
                )
            )
    engine.dispose()

    upgrade_database(fresh_url)
    with Session(engine) as session:
        ines, budi = session.get(User, "u1"), session.get(User, "u2")
        assert ines is not None and budi is not None
        assert ines.search_text == "ines jokowati u1 u1@contoh.id 198001012005011001"
        assert ines.last_login_at == t + timedelta(days=2)
        assert budi.search_text == "budi u2 u2@contoh.id" and budi.last_login_at is None
    engine.dispose()
    assert "ix_users_search_text" in {i["name"] for i in inspect(engine).get_indexes("users")}

    command.downgrade(alembic_config(fresh_url), "0007")
    columns = {c["name"] for c in inspect(engine).get_columns("users")}
    assert "search_text" not in columns and "last_login_at" not in columns
    engine.dispose()
