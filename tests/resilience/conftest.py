"""Fixtures of the resilience tests (issue 8: faults, load, restore drill).

They start real `sso serve` processes on the machine's PostgreSQL (one database for the run,
``sso_res_<pid>``, migrated as `sso db upgrade` does, seeded, dropped afterwards) and Redis
(database 14, keys of this run only), plus throwaway PostgreSQL clusters and Redis servers of
their own where a test breaks them. They are slow, so `make test` leaves them out: this
directory is collected only when it is named on the command line (`make test-resilience`,
or `pytest tests/resilience/...`).
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

import psycopg
import pytest
from cryptography.fernet import Fernet

from sso.runtime import upgrade_database
from tests.resilience.people import RP
from tests.resilience.procs import DEFAULT_ADMIN_URL, Provider, base_env, database, sso

HERE = Path(__file__).resolve().parent
PASSWORD = "Kota-Tangsel-2026!aman"
# siti: logs in everywhere; budi: disabled by the two-instance test; ani: the Redis outage;
# dewi: the restore drill.
PEOPLE = ("siti", "budi", "ani", "dewi")
ISSUER = "http://sso.tangsel.test"
_numbers = itertools.count(1)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Collect this directory only when a command-line argument points into it."""
    for arg in config.args:
        target = Path(arg.split("::")[0]).resolve()
        if target == HERE or HERE in target.parents:
            return None
    return True


def database_prefix() -> str:
    """``sso_res_<pid>``, or ``<CI database>_res_<pid>`` under .ci/run (which drops every
    database named after its own at the end, so even a killed run leaves nothing behind)."""
    configured = os.environ.get("SSO_TEST_POSTGRES_URL")
    if configured:
        info = psycopg.conninfo.conninfo_to_dict(configured.replace("+psycopg", ""))
        return f"{info.get('dbname', 'sso')}_res_{os.getpid()}"
    return f"sso_res_{os.getpid()}"


def _admin_url() -> str:
    configured = os.environ.get("SSO_TEST_POSTGRES_URL")
    if not configured:
        return DEFAULT_ADMIN_URL
    info = psycopg.conninfo.conninfo_to_dict(configured.replace("+psycopg", ""))
    return (
        f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/postgres"
    )


@pytest.fixture(scope="session")
def admin_url() -> str:
    url = _admin_url()
    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable at {url}: {exc}")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = os.environ.get("SSO_TEST_RESILIENCE_REDIS_URL", "redis://127.0.0.1:6379/14")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {url}: {exc}")
    return url


class City:
    """One deployment under test: a database, shared secrets, and its provider processes."""

    def __init__(self, url: str, redis_url: str | None, log_dir: Path) -> None:
        self.database_url = url
        self.log_dir = log_dir
        self.env = base_env(
            SSO_ENV="test",
            SSO_ISSUER=ISSUER,
            SSO_DATABASE_URL=url,
            SSO_SECRET_KEY=secrets.token_urlsafe(48),
            SSO_KEY_ENCRYPTION_KEY=Fernet.generate_key().decode(),
            SSO_ADMIN_PASSWORD=PASSWORD,
            SSO_LOG_LEVEL="WARNING",
            SSO_SHUTDOWN_DRAIN_SECONDS="1",
            SSO_VAR_DIR=str(log_dir / "var"),
        )
        if redis_url:
            self.env["SSO_REDIS_URL"] = redis_url
        self.providers: list[Provider] = []
        self.portal = RP("", "")  # set by seed()
        self.machines: list[RP] = []

    def sso(self, *args: str, stdin: str | None = None) -> str:
        return sso(self.env, *args, stdin=stdin)

    def provider(
        self, name: str, *, workers: int = 1, start: bool = True, **settings: str
    ) -> Provider:
        """A provider on this city's database; ``settings`` are Settings field names."""
        env = dict(self.env)
        env.update({f"SSO_{k.upper()}": v for k, v in settings.items()})
        p = Provider(env, self.log_dir, name, workers)
        self.providers.append(p)
        if start:
            p.start().wait_ready()
        return p

    def seed(self) -> None:
        """Relying parties and people shared by the tests of a run, made in this process with
        the provider's own services (what `sso clients create` / `sso users create` call),
        which is much cheaper than one CLI process each."""
        from sso.accounts.passwords import PasswordHasher
        from sso.accounts.service import NewUser, create_user
        from sso.config import Settings
        from sso.oauth.clients import ClientSpec, register
        from sso.runtime import build_runtime

        settings = Settings(
            env="test",
            database_url=self.database_url,
            secret_key=self.env["SSO_SECRET_KEY"],
            key_encryption_key=self.env["SSO_KEY_ENCRYPTION_KEY"],
        ).finalize()
        rt = build_runtime(settings)
        hasher = PasswordHasher(settings)
        try:
            with rt.sessions() as session:
                portal = register(
                    session,
                    rt.secret_key,
                    ClientSpec(
                        name="Portal Warga",
                        redirect_uris=["https://rp.example.id/callback"],
                        grant_types=["authorization_code", "refresh_token"],
                        scope="openid profile email offline_access",
                        trusted=True,
                    ),
                )
                self.portal = RP(portal.client.client_id, str(portal.client_secret))
                for name in ("Mesin Satu", "Mesin Dua"):
                    made = register(
                        session,
                        rt.secret_key,
                        ClientSpec(name=name, grant_types=["client_credentials"]),
                    )
                    self.machines.append(RP(made.client.client_id, str(made.client_secret)))
                for username in PEOPLE:
                    create_user(
                        session,
                        hasher,
                        NewUser(
                            username=username,
                            email=f"{username}@warga.tangsel.test",
                            kind="citizen",
                            display_name=username.title(),
                            email_verified=True,
                        ),
                        PASSWORD,
                    )
                session.commit()
        finally:
            rt.dispose()

    def machine(self, name: str) -> RP:
        """A client_credentials client (a service calling APIs)."""
        return RP(**json.loads(self.sso("clients", "create", "--name", name, "--json")))

    def rp(self, name: str = "Portal Warga") -> RP:
        out = self.sso(
            "clients",
            "create",
            "--name",
            name,
            "--redirect-uri",
            "https://rp.example.id/callback",
            "--trusted",
            "--scope",
            "openid profile email offline_access",
            "--json",
        )
        data = json.loads(out)
        return RP(data["client_id"], data["client_secret"])

    def person(self, username: str, password: str = PASSWORD) -> str:
        self.sso(
            "users",
            "create",
            "--username",
            username,
            "--email",
            f"{username}@warga.tangsel.test",
            "--name",
            username.title(),
            "--password-stdin",
            stdin=password + "\n",
        )
        return username

    def stop_all(self) -> None:
        for p in self.providers:
            p.stop()


class MakeCity(Protocol):
    """What the ``make_city`` fixture gives."""

    def __call__(
        self, *, migrate: bool = True, redis: bool | str = True, admin: str | None = None
    ) -> City: ...


class Launch(Protocol):
    """What the ``launch`` fixture gives."""

    def __call__(
        self, name: str, *, workers: int = 1, start: bool = True, **settings: str
    ) -> Provider: ...


@pytest.fixture()
def make_city(admin_url: str, redis_url: str, tmp_path: Path) -> Iterator[MakeCity]:
    """``make_city(migrate=True, redis=True, admin=None)``: a deployment of the test's own (a
    new database, on the server of ``admin`` or the machine's), for tests that break things."""
    cities: list[City] = []
    with ExitStack() as stack:

        def make(
            *, migrate: bool = True, redis: bool | str = True, admin: str | None = None
        ) -> City:
            name = f"{database_prefix()}_{next(_numbers)}"
            url = stack.enter_context(database(admin or admin_url, name, missing_ok=True))
            log_dir = tmp_path / name
            log_dir.mkdir()
            chosen = redis if isinstance(redis, str) else (redis_url if redis else None)
            city = City(url, chosen, log_dir)
            cities.append(city)
            if migrate:
                city.sso("db", "upgrade")
            return city

        try:
            yield make
        finally:
            for city in cities:
                city.stop_all()


@pytest.fixture(scope="session")
def city(
    admin_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[City]:
    """The run's deployment: one database (migrated, seeded) and Redis database 14, shared by
    the tests that do not break them; each test starts the providers it needs (``launch``)."""
    name = database_prefix()
    with database(admin_url, name) as url:
        log_dir = tmp_path_factory.mktemp("city")
        c = City(url, redis_url, log_dir)
        try:
            upgrade_database(url)  # what `sso db upgrade` does
            c.seed()
            yield c
        finally:
            c.stop_all()


@pytest.fixture()
def launch(city: City) -> Iterator[Launch]:
    """``launch(name, workers=1, start=True, **settings)``: a provider on the run's database,
    stopped at the end of the test."""
    started: list[Provider] = []

    def make(name: str, *, workers: int = 1, start: bool = True, **settings: str) -> Provider:
        p = city.provider(name, workers=workers, start=start, **settings)
        started.append(p)
        return p

    try:
        yield make
    finally:
        for p in started:
            p.stop()
