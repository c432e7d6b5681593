"""The ``sso`` command line: the interface other tools script against, errors included."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from sso.cli import app as cli
from sso.db.base import Base
from sso.db.models import Agency, Client, PasswordCredential, User
from sso.runtime import Runtime


class Run(Protocol):
    """The ``sso`` command run against the test database (what the ``sso`` fixture gives)."""

    def __call__(
        self, *args: str, input: str | None = None, extra_env: dict[str, str] | None = None
    ) -> Result: ...


@pytest.fixture
def sso(runtime: Runtime) -> Run:
    s = runtime.settings
    assert s.secret_key is not None and s.key_encryption_key is not None
    env = {
        "SSO_ENV": "test",
        "SSO_DATABASE_URL": s.database_url,
        "SSO_SECRET_KEY": s.secret_key.get_secret_value(),
        "SSO_KEY_ENCRYPTION_KEY": s.key_encryption_key.get_secret_value(),
        "SSO_ISSUER": s.issuer,
        "SSO_VAR_DIR": str(s.var_dir),
        "SSO_ADMIN_PASSWORD": "",
    }
    runner = CliRunner()

    def run(
        *args: str, input: str | None = None, extra_env: dict[str, str] | None = None
    ) -> Result:
        e = dict(env, **(extra_env or {}))
        e = {k: v for k, v in e.items() if v != ""}
        return runner.invoke(cli, list(args), input=input, env=e, catch_exceptions=False)

    return run


def count(db: Session, model: type[Base]) -> int:
    db.expire_all()
    n = db.scalar(select(func.count()).select_from(model))
    assert n is not None
    return n


def test_agencies_create_and_list(sso: Run, db: Session) -> None:
    assert (
        sso("agencies", "create", "--code", "DISKOMINFO", "--name", "Dinas Kominfo").exit_code == 0
    )
    r = sso(
        "agencies", "create", "--code", "BIDANG-TI", "--name", "Bidang TI", "--parent", "DISKOMINFO"
    )
    assert r.exit_code == 0, r.output
    r = sso("agencies", "list", "--json")
    data = json.loads(r.stdout)
    assert {"code": "BIDANG-TI", "name": "Bidang TI", "parent": "DISKOMINFO"} in data


@pytest.mark.parametrize(
    "args",
    [
        ("--code", "X", "--name", "Y", "--parent", "NOPE"),
        ("--code", "bad code!", "--name", "Y"),
        ("--code", "X", "--name", " "),
    ],
)
def test_agencies_create_errors_change_nothing(
    sso: Run, db: Session, args: tuple[str, ...]
) -> None:
    r = sso("agencies", "create", *args)
    assert r.exit_code != 0
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert count(db, Agency) == 0


def test_duplicate_agency(sso: Run, db: Session) -> None:
    sso("agencies", "create", "--code", "DINKES", "--name", "Dinas Kesehatan")
    r = sso("agencies", "create", "--code", "DINKES", "--name", "Again")
    assert r.exit_code == 1 and "already exists" in r.stderr
    assert count(db, Agency) == 1


def test_users_create_staff_list_disable(sso: Run, db: Session) -> None:
    sso("agencies", "create", "--code", "DISKOMINFO", "--name", "Dinas Kominfo")
    r = sso(
        "users",
        "create",
        "--username",
        "budi",
        "--email",
        "Budi@Tangsel.go.id",
        "--kind",
        "staff",
        "--name",
        "Budi Santoso",
        "--nip",
        "198503122010011001",
        "--agency",
        "DISKOMINFO",
        "--password-stdin",
        input="a long staff password\n",
    )
    assert r.exit_code == 0, r.output
    users = json.loads(sso("users", "list", "--json").stdout)
    assert users[0]["username"] == "budi" and users[0]["agency"] == "DISKOMINFO"
    assert users[0]["nip"] == "198503122010011001"
    cred = db.scalar(select(PasswordCredential))
    assert cred is not None
    assert cred.password_hash.startswith("$argon2id$") and "long staff" not in cred.password_hash
    assert sso("users", "disable", "budi@tangsel.go.id").exit_code == 0
    db.expire_all()
    assert db.scalar(select(User.status)) == "disabled"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--username", "ani", "--email", "not-an-email"), "email"),
        (("--username", "a n i", "--email", "ani@example.id"), "username"),
        (
            ("--username", "ani", "--email", "ani@example.id", "--kind", "staff", "--nip", "123"),
            "18 digits",
        ),
        (
            (
                "--username",
                "ani",
                "--email",
                "ani@example.id",
                "--kind",
                "staff",
                "--nip",
                "198513122010011001",
            ),
            "birth date",
        ),
        (
            (
                "--username",
                "ani",
                "--email",
                "ani@example.id",
                "--kind",
                "staff",
                "--agency",
                "NOPE",
            ),
            "agency",
        ),
        (("--username", "ani", "--email", "ani@example.id", "--kind", "robot"), "kind"),
    ],
)
def test_users_create_errors(sso: Run, db: Session, args: tuple[str, ...], message: str) -> None:
    r = sso("users", "create", *args, "--password-stdin", input="a long staff password\n")
    assert r.exit_code != 0
    assert message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert count(db, User) == 0


def test_users_duplicate_username_case_insensitive(sso: Run, db: Session) -> None:
    sso(
        "users",
        "create",
        "--username",
        "ani",
        "--email",
        "ani@example.id",
        "--password-stdin",
        input="password one two\n",
    )
    r = sso(
        "users",
        "create",
        "--username",
        "ANI",
        "--email",
        "ani2@example.id",
        "--password-stdin",
        input="password one two\n",
    )
    assert r.exit_code == 1 and "taken" in r.stderr
    assert count(db, User) == 1


def test_users_create_requires_a_password_source(sso: Run, db: Session) -> None:
    r = sso("users", "create", "--username", "ani", "--email", "ani@example.id")
    assert r.exit_code != 0 and count(db, User) == 0


def test_clients_create_json_prints_only_the_credentials(sso: Run, db: Session) -> None:
    r = sso(
        "clients",
        "create",
        "--name",
        "Portal Satu Data",
        "--redirect-uri",
        "https://data.tangerangselatankota.go.id/callback",
        "--scope",
        "openid profile opd",
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) == {"client_id", "client_secret"}
    assert out["client_secret"].startswith("tsso_cs_")
    row = db.scalar(select(Client))
    assert row is not None
    assert row.client_secret_hash and out["client_secret"] not in row.client_secret_hash
    listed = sso("clients", "list", "--json").stdout
    assert out["client_secret"] not in listed
    rotated = json.loads(sso("clients", "rotate-secret", out["client_id"], "--json").stdout)
    assert rotated["client_secret"] != out["client_secret"]


def test_public_client_has_no_secret(sso: Run) -> None:
    r = sso(
        "clients",
        "create",
        "--name",
        "Hotspot",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1/callback",
        "--json",
    )
    assert json.loads(r.stdout)["client_secret"] is None


@pytest.mark.parametrize(
    "args",
    [
        ("--redirect-uri", "not a uri"),
        ("--redirect-uri", "http://evil.example/cb"),
        ("--redirect-uri", "https://rp.example/cb#frag"),
        ("--redirect-uri", "https://rp.example/cb", "--grant-type", "password"),
        ("--redirect-uri", "https://rp.example/cb", "--auth-method", "private_key_jwt"),
        (
            "--redirect-uri",
            "https://rp.example/cb",
            "--public",
            "--grant-type",
            "client_credentials",
        ),
    ],
)
def test_clients_create_errors(sso: Run, db: Session, args: tuple[str, ...]) -> None:
    r = sso("clients", "create", "--name", "X", *args)
    assert r.exit_code != 0 and r.stderr.startswith("error: ")
    assert count(db, Client) == 0


def test_rotate_secret_of_unknown_client(sso: Run) -> None:
    r = sso("clients", "rotate-secret", "nope")
    assert r.exit_code == 1 and "no client" in r.stderr


def test_bootstrap_creates_one_admin_and_keys(sso: Run, db: Session) -> None:
    r = sso("bootstrap")
    assert r.exit_code == 0, r.output
    assert "admin password (shown once):" in r.stdout
    again = sso("bootstrap")
    assert "admin exists" in again.stdout and "password" not in again.stdout
    assert count(db, User) == 1
    keys = json.loads(sso("keys", "list", "--json").stdout)
    assert {k["state"] for k in keys} >= {"active", "next"}


def test_bootstrap_uses_configured_admin_password(sso: Run, db: Session) -> None:
    r = sso("bootstrap", extra_env={"SSO_ADMIN_PASSWORD": "kota tangsel berbenah 2026"})
    assert r.exit_code == 0 and "shown once" not in r.stdout


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short-pw", "shorter than 12 characters"),
        ("password1234", "one of the most common passwords"),
        ("the admin of tangsel", "contains the username or email"),
    ],
)
def test_bootstrap_names_the_variable_and_the_rule_that_refused_its_password(
    sso: Run, db: Session, password: str, rule: str
) -> None:
    r = sso("bootstrap", extra_env={"SSO_ADMIN_PASSWORD": password})
    assert r.exit_code == 1
    assert r.stderr.startswith("error: SSO_ADMIN_PASSWORD is refused: ")
    assert rule in r.stderr and "password policy" in r.stderr
    assert password not in r.stderr
    assert count(db, User) == 0


def test_gc_prints_counts(sso: Run) -> None:
    r = sso("gc")
    assert r.exit_code == 0 and "authorization_codes\t0" in r.stdout


def test_db_current(sso: Run) -> None:
    r = sso("db", "current")
    assert r.exit_code == 0 and "(head)" in r.stdout


def test_prod_refuses_unsafe_settings_listing_every_problem(sso: Run) -> None:
    r = sso(
        "users",
        "list",
        extra_env={
            "SSO_ENV": "prod",
            "SSO_ISSUER": "http://sso.example",
            "SSO_SECRET_KEY": "changeme",
            "SSO_DATABASE_URL": "sqlite:///var/prod.db",
        },
    )
    assert r.exit_code == 2
    assert "https" in r.stderr and "SQLite" in r.stderr and "SSO_SECRET_KEY" in r.stderr


def test_roles_app_role_reaches_the_roles_claim(sso: Run, db: Session, runtime: Runtime) -> None:
    from sso.db.models import Client as ClientRow
    from sso.storage import roles as role_repo

    sso("agencies", "create", "--code", "DINKES", "--name", "Dinas Kesehatan")
    sso(
        "users",
        "create",
        "--username",
        "rina",
        "--email",
        "rina@example.id",
        "--kind",
        "staff",
        "--agency",
        "DINKES",
        "--password-stdin",
        input="a long staff password\n",
    )
    out = json.loads(
        sso(
            "clients",
            "create",
            "--name",
            "Event",
            "--redirect-uri",
            "https://event.example.id/cb",
            "--json",
        ).stdout
    )
    cid = out["client_id"]
    assert sso("roles", "create", "--name", "organizer", "--client", cid).exit_code == 0
    assert sso("roles", "create", "--name", "publisher", "--client", cid).exit_code == 0
    r = sso("roles", "assign", "--role", "organizer", "--client", cid, "--user", "rina")
    assert r.exit_code == 0, r.output
    r = sso("roles", "assign", "--role", "publisher", "--client", cid, "--agency", "DINKES")
    assert r.exit_code == 0, r.output
    db.expire_all()
    user = db.scalar(select(User))
    assert user is not None
    client_pk = db.scalar(select(ClientRow.id))
    assert role_repo.role_names_for(db, user.id, user.agency_id, client_pk) == [
        "organizer",
        "publisher",
    ]
    listed = {r["name"]: r for r in json.loads(sso("roles", "list", "--json").stdout)}
    assert listed["organizer"]["client_id"] == cid and listed["organizer"]["assignments"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ("create", "--name", "Bad Name"),
        ("create", "--name", "organizer", "--client", "nope"),
        ("assign", "--role", "nope", "--user", "x"),
        ("assign", "--role", "admin", "--user", "x", "--agency", "Y"),
    ],
)
def test_roles_errors(sso: Run, args: tuple[str, ...]) -> None:
    r = sso("roles", *args)
    assert r.exit_code == 1 and r.stderr.startswith("error: ")


def test_serve_shares_the_cores_among_workers_for_password_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sso serve --workers N` with the cap left at 0: each worker gets cores // N (at least
    1), so a login storm runs about as many argon2 checks as there are cores."""
    from sso.accounts.passwords import PasswordHasher
    from sso.cli.serve import share_password_checks
    from sso.config import load_settings
    from tests.conftest import make_settings

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    monkeypatch.delenv("SSO_PASSWORD_CHECK_CONCURRENCY", raising=False)
    default = make_settings(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    share_password_checks(default, 1)
    assert "SSO_PASSWORD_CHECK_CONCURRENCY" not in os.environ
    share_password_checks(default, 3)
    assert os.environ["SSO_PASSWORD_CHECK_CONCURRENCY"] == "2"
    share_password_checks(default, 16)
    assert os.environ["SSO_PASSWORD_CHECK_CONCURRENCY"] == "1"
    # What a worker then reads from its environment.
    monkeypatch.setenv("SSO_DATABASE_URL", f"sqlite:///{tmp_path / 'a.db'}")
    monkeypatch.setenv("SSO_ENV", "test")
    assert PasswordHasher(load_settings()).concurrency == 1
    # A cap set by the operator is left alone.
    monkeypatch.delenv("SSO_PASSWORD_CHECK_CONCURRENCY")
    share_password_checks(
        make_settings(f"sqlite:///{tmp_path / 'a.db'}", tmp_path, password_check_concurrency=5), 4
    )
    assert "SSO_PASSWORD_CHECK_CONCURRENCY" not in os.environ


def test_serve_on_another_port_moves_the_issuer_and_var_dir_holds_the_state(tmp_path: Path) -> None:
    """`make run PORT=8090` as a newcomer runs it: a real `sso serve --port N` in dev, with no
    SSO_ISSUER and no SSO_DATABASE_URL. The issuer (discovery, the console's login) is :N, the
    database and the dev secrets are in SSO_VAR_DIR, and the start-up log is clean."""
    import signal
    import subprocess
    from urllib.parse import parse_qs, urlsplit

    import httpx

    from tests.resilience.procs import SSO, base_env, free_port, wait_until

    var = tmp_path / "state"
    env = base_env(SSO_ENV="dev", SSO_VAR_DIR=str(var))
    subprocess.run(  # noqa: S603
        [*SSO, "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603
            [*SSO, "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def discovery() -> dict[str, object] | None:
        if proc.poll() is not None:
            raise AssertionError(f"sso serve exited:\n{log_path.read_text()}")
        response = httpx.get(base + "/.well-known/openid-configuration", timeout=2)
        return response.json() if response.status_code == 200 else None

    try:
        meta = wait_until(discovery, 60, "discovery")
        assert meta["issuer"] == base
        # The provider's own pages log in through the console client at the same address.
        to_login = httpx.get(base + "/account", timeout=5)
        assert to_login.status_code in (302, 303), to_login.text
        query = parse_qs(urlsplit(to_login.headers["location"]).query)
        assert query["redirect_uri"] == [base + "/console/callback"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    assert (var / "sso.db").is_file() and (var / "secrets.json").is_file()
    assert not (tmp_path / "var").exists()
    log_text = log_path.read_text()
    assert "Uvicorn running on" in log_text  # the uvicorn line that carries a color_message
    assert "color_message" not in log_text and "\x1b[" not in log_text, log_text
    assert "Warning" not in log_text, log_text


def test_an_explicit_issuer_wins_over_the_served_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sso.cli.serve import follow_served_address, served_issuer
    from sso.config import load_settings

    assert served_issuer("0.0.0.0", 8090) == "http://127.0.0.1:8090"  # noqa: S104
    assert served_issuer("::1", 8090) == "http://[::1]:8090"
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("SSO_ENV", "test")
    monkeypatch.setenv("SSO_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SSO_DATABASE_URL", raising=False)
    monkeypatch.setenv("SSO_ISSUER", "https://sso.example.id")
    explicit = follow_served_address(load_settings(), "127.0.0.1", 8090)
    assert explicit.issuer == "https://sso.example.id"
    monkeypatch.delenv("SSO_ISSUER")
    followed = follow_served_address(load_settings(), "127.0.0.1", 8090)
    assert followed.issuer == "http://127.0.0.1:8090"
    assert followed.database_url == f"sqlite:///{tmp_path / 'sso.db'}"
