"""The process-wide base a deployment needs (settings, engine, session factory, encryptor),
built once from Settings by the composition roots (``create_app`` and the CLI). Nothing here
holds state another worker needs: the database (and Redis, when configured) is the shared truth.

This module sits just above ``sso.db``, so it cannot name the services built on top of it. The
application's typed runtime, with the key set, token server, throttle, hasher, mailer, metrics
and thread pools, is :class:`sso.web.app_runtime.AppRuntime`, a subclass of :class:`Runtime`
built by ``create_app``; the CLI builds what a command needs from a plain :class:`Runtime`.
Services take a :class:`Runtime` (or a small Protocol of what they use) as a parameter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from sso.config import Settings
from sso.core.crypto import Encryptor
from sso.db.engine import build_engine
from sso.db.session import build_sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    encryptor: Encryptor

    @property
    def secret_key(self) -> bytes:
        return self.settings.secret_key_bytes()

    def dispose(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    assert settings.key_encryption_key is not None, "Settings.finalize() must run first"
    engine = build_engine(settings.database_url, pool_size=settings.database_pool_size)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=build_sessionmaker(engine),
        encryptor=Encryptor(settings.key_encryption_key.get_secret_value()),
    )


def alembic_config(database_url: str, connection: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade_database(database_url: str, engine: Engine | None = None) -> None:
    """Apply every migration (the only way the schema is made)."""
    from alembic import command

    if engine is not None:
        with engine.begin() as conn:
            command.upgrade(alembic_config(database_url, conn), "head")
    else:
        command.upgrade(alembic_config(database_url), "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


# Readiness in every worker without importing Alembic (about 10 MB of memory per process that
# serves requests; issue 7): the head from the migration files, the database's revision from
# its alembic_version table. tests/test_migrations.py checks both agree with Alembic.
_REVISION = re.compile(r"^revision\b[^=]*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=]*=(.*)$", re.M)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


def migration_head() -> str | None:
    """The revision no migration builds on (None unless there is exactly one)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found:
            revisions.add(found.group(1))
        down = _DOWN_REVISION.search(source)
        if down:
            parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def schema_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return str(value) if value is not None else None
