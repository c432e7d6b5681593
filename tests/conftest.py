"""Shared fixtures.

Every test that takes ``runtime`` (or anything built on it) runs on SQLite and, when
``SSO_TEST_POSTGRES_URL`` is set, on PostgreSQL too. The schema is built once per backend with
Alembic (never ``create_all``); between tests every table is emptied.

Two costs are paid once per session rather than once per test: the signing keys an app needs at
start (an RSA-2048 pair takes tens of milliseconds; :func:`seed_signing_keys`) and, where
hashing is not the subject, argon2id at OWASP's floor (:data:`CHEAP_ARGON2`; tests about the
hasher pass :data:`OWASP_ARGON2`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sso.config import Settings
from sso.db.base import Base
from sso.runtime import Runtime, upgrade_database
from sso.web.app_runtime import AppRuntime, build_app_runtime

POSTGRES_URL = os.environ.get("SSO_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"]

# argon2id settings. The floor is what production must use (Settings refuses less outside
# env "test"); the cheap setting is for the many tests that hash a password only to log in.
OWASP_ARGON2: dict[str, object] = {"argon2_memory_cost": 19456, "argon2_time_cost": 2}
CHEAP_ARGON2: dict[str, object] = {"argon2_memory_cost": 1024, "argon2_time_cost": 1}


def _worker_suffix() -> str:
    # Unique per test process, so concurrent test runs never share (or drop) a database.
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def _postgres_database_url() -> str:
    """A database of this test worker's own, created on first use."""
    assert POSTGRES_URL
    base = make_url(POSTGRES_URL)
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")
    name = f"{base.database}_{_worker_suffix()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname=:n"), {"n": name}
        ).first()
        if exists:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _created_databases.append((base, name))
    return base.set(database=name).render_as_string(hide_password=False)


_created_databases: list[tuple[object, str]] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the databases this test process created."""
    for base, name in _created_databases:
        engine = create_engine(base, isolation_level="AUTOCOMMIT")  # type: ignore[call-overload]
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception:  # noqa: BLE001,S110  (best effort; CI drops leftovers too)
            pass
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def backend_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Database URL per backend, migrated to head once per test session."""
    urls: dict[str, str] = {}
    sqlite_path: Path = tmp_path_factory.mktemp("db") / "sso.db"
    urls["sqlite"] = f"sqlite:///{sqlite_path}"
    if POSTGRES_URL:
        urls["postgres"] = _postgres_database_url()
    for url in urls.values():
        upgrade_database(url)
    return urls


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "issuer": "http://testserver",
        "database_url": database_url,
        "var_dir": tmp_path / "var",
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "key_encryption_key": "kPd6T0mYbq5bQ2o2tX8Yf0Ck3kG9cQ8o7J1s2T4u5V0=",
        "admin_password": "Admin-Password-For-Tests-1",
        **CHEAP_ARGON2,
        # In-process tests send up to 100 password forms at once to test races and guessing
        # limits, not load shedding: the line holds them all, however busy the machine is.
        # Shedding with the production defaults is tested by tests/resilience on real servers.
        "password_check_queue": 1000,
        "password_check_max_wait": 300.0,
    }
    values.update(overrides)
    if values["env"] != "test":  # dev and prod refuse argon2 below OWASP's floor, as they should
        for name, value in OWASP_ARGON2.items():
            if name not in overrides:
                values[name] = value
    return Settings(**values).finalize()  # type: ignore[arg-type]


def _empty_all_tables(runtime: Runtime) -> None:
    """Delete every row and restart the id sequences (what ``TRUNCATE ... RESTART IDENTITY``
    does). DELETE, not TRUNCATE, on PostgreSQL too: a test leaves a handful of rows, and
    truncating 37 tables (new files for each) took ~1.3 s per test against ~0.05 s."""
    tables = list(reversed(Base.metadata.sorted_tables))
    with runtime.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Tables guarded by triggers (audit_events is append-only) are truncated.
            guarded = conn.scalars(
                text(
                    "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c"
                    " ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
                    " AND c.relnamespace = current_schema()::regnamespace"
                )
            ).all()
            if guarded:
                conn.execute(text(f"TRUNCATE {', '.join(guarded)} RESTART IDENTITY CASCADE"))
            tables = [t for t in tables if t.name not in guarded]
        conn.execute(text("UPDATE agencies SET parent_id = NULL"))  # self-reference
        for table in tables:
            conn.execute(table.delete())
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(format('%I.%I', schemaname, sequencename), 1, false)"
                    " FROM pg_sequences WHERE schemaname = current_schema()"
                )
            )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres" and not POSTGRES_URL:
        pytest.skip("SSO_TEST_POSTGRES_URL is not set")
    return name


@pytest.fixture
def settings(backend: str, backend_urls: dict[str, str], tmp_path: Path) -> Settings:
    return make_settings(backend_urls[backend], tmp_path)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[AppRuntime]:
    rt = build_app_runtime(settings)
    _empty_all_tables(rt)
    yield rt
    rt.close()


@pytest.fixture
def db(runtime: Runtime) -> Iterator[object]:
    """A session for arranging and asserting rows, in autocommit mode: every statement sees
    what the app committed so far and holds no lock or snapshot while the app works."""
    from sqlalchemy.orm import sessionmaker

    url = runtime.settings.database_url
    kwargs: dict[str, object] = {"isolation_level": "AUTOCOMMIT"}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)  # type: ignore[arg-type]
    factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    with factory() as session:
        yield session
    engine.dispose()


@functools.cache
def _key_material() -> tuple[tuple[str, str, str, dict[str, object]], ...]:
    """One active and one next key pair per algorithm, made once per test process:
    ``(kid, alg, state, public_jwk)`` with the private PEM in :data:`_PRIVATE_PEMS`."""
    from cryptography.fernet import Fernet

    from sso.core.crypto import Encryptor
    from sso.oidc import key_set
    from sso.storage.keys import ACTIVE, NEXT

    encryptor = Encryptor(Fernet.generate_key().decode())
    made = []
    for alg in key_set.ALGORITHMS:
        for state in (ACTIVE, NEXT):
            row = key_set.generate_key(alg, encryptor, state=state)
            _PRIVATE_PEMS[row.kid] = encryptor.decrypt(row.private_key_encrypted)
            made.append((row.kid, row.alg, row.state, dict(row.public_jwk)))
    return tuple(made)


_PRIVATE_PEMS: dict[str, str] = {}


def seed_signing_keys(runtime: Runtime) -> None:
    """Give the emptied database the key set the app would otherwise generate at start.

    The rows are what :func:`sso.oidc.key_set.generate_key` makes (the private key encrypted with
    this runtime's key-encryption key, created now); the app's start-up ``ensure_keys`` finds a
    complete set and creates none. Tests of key creation itself use ``runtime``, not ``app``.
    """
    from sso.core import clock
    from sso.db.models.keys import SigningKey
    from sso.storage.keys import ACTIVE

    now = clock.now()
    with runtime.sessions() as session:
        for kid, alg, state, public_jwk in _key_material():
            session.add(
                SigningKey(
                    kid=kid,
                    alg=alg,
                    state=state,
                    private_key_encrypted=runtime.encryptor.encrypt(_PRIVATE_PEMS[kid]),
                    public_jwk=dict(public_jwk),
                    created_at=now,
                    activated_at=now if state == ACTIVE else None,
                )
            )
        session.commit()


@pytest.fixture
def app(runtime: AppRuntime) -> object:
    from sso.app import create_app

    seed_signing_keys(runtime)
    return create_app(runtime.settings, runtime)


@pytest.fixture
def http(app: object) -> Iterator[object]:
    """An HTTP client (a browser's cookie jar) for the whole provider, lifespan included."""
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as client:  # type: ignore[arg-type]
        yield client
