"""The city in one process: the real provider on a free loopback port (uvicorn in a thread,
SQLite and, with SSO_TEST_POSTGRES_URL, PostgreSQL), the relying parties registered through
the provider's CLI, each served on a port of its own.

The relying parties import nothing from ``sso``; the tests do, only to arrange what the CLI
cannot do yet (app roles) and to mint tokens the provider would never issue (expired ones).
Chromium runs through Playwright's async API on a thread of its own (see
``test_single_sign_on.in_chromium``), so it never collides with the session-wide sync
``browser`` fixture of tests/e2e.
"""

from __future__ import annotations

import html
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "clients"
for _path in (CLIENTS, CLIENTS / "event", CLIENTS / "data_portal", CLIENTS / "hotspot"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tangsel_rp.tls import SSL_CONTEXT  # noqa: E402

from sso.app import create_app as create_provider  # noqa: E402
from sso.cli import app as sso_cli  # noqa: E402
from sso.web.app_runtime import AppRuntime, build_app_runtime  # noqa: E402
from tests.conftest import POSTGRES_URL, _empty_all_tables, make_settings  # noqa: E402
from tests.e2e.conftest import free_port  # noqa: E402

PASSWORD = "Kata-Sandi-Uji-Coba-2024"  # long enough for staff (12+), not a common password
CSRF_RE = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
FORM_ACTION_RE = re.compile(r'<form[^>]*method="post"[^>]*action="([^"]+)"', re.I)


class Server:
    """uvicorn serving an ASGI app in a daemon thread."""

    def __init__(self, app: Any, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server on port {port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Provider:
    url: str
    runtime: AppRuntime
    env: dict[str, str]
    runner: CliRunner = field(default_factory=CliRunner)

    def cli(self, *args: str, input: str | None = None) -> str:  # noqa: A002
        result = self.runner.invoke(sso_cli, list(args), input=input, env=self.env)
        assert result.exit_code == 0, f"sso {' '.join(args)}: {result.output}"
        return result.stdout

    def register(
        self,
        name: str,
        base_url: str,
        scope: str,
        *,
        backchannel: bool = True,
        grant_types: tuple[str, ...] = (),
        trusted: bool = True,
    ) -> tuple[str, str]:
        args = [
            "clients",
            "create",
            "--name",
            name,
            "--redirect-uri",
            f"{base_url}/auth/callback",
            "--post-logout-redirect-uri",
            f"{base_url}/logged-out",
            "--scope",
            scope,
            "--json",
        ]
        if trusted:
            args.append("--trusted")
        if backchannel:
            args += ["--backchannel-logout-uri", f"{base_url}/backchannel-logout"]
        for grant_type in grant_types:  # none: the CLI's default grants
            args += ["--grant-type", grant_type]
        data = json.loads(self.cli(*args))
        return data["client_id"], data["client_secret"]

    def register_machine(self, name: str, scope: str) -> tuple[str, str]:
        data = json.loads(self.cli("clients", "create", "--name", name, "--scope", scope, "--json"))
        return data["client_id"], data["client_secret"]

    def user(
        self,
        username: str,
        *,
        kind: str = "citizen",
        agency: str | None = None,
        name: str | None = None,
        nip: str | None = None,
    ) -> str:
        args = [
            "users",
            "create",
            "--username",
            username,
            "--email",
            f"{username}@example.id",
            "--kind",
            kind,
            "--name",
            name or username.title(),
            "--password-stdin",
        ]
        if agency:
            args += ["--agency", agency]
        if nip:
            args += ["--nip", nip]
        self.cli(*args, input=PASSWORD + "\n")
        return self.user_id(username)

    def agency(self, code: str, name: str) -> None:
        self.cli("agencies", "create", "--code", code, "--name", name)

    def user_id(self, username: str) -> str:
        from sso.db.models import User

        with self.runtime.sessions() as db:
            user_id = db.scalar(select(User.id).where(User.username == username))
        assert user_id
        return str(user_id)

    def grant_app_role(self, client_id: str, role: str, username: str) -> None:
        """App role of one client for one person. The CLI has no command for this yet."""
        from sso.db.models import Client, Role, RoleAssignment

        user_id = self.user_id(username)
        with self.runtime.sessions() as db:
            client_pk = db.scalar(select(Client.id).where(Client.client_id == client_id))
            row = db.scalar(select(Role).where(Role.client_id == client_pk, Role.name == role))
            if row is None:
                row = Role(name=role, client_id=client_pk, description=role)
                db.add(row)
                db.flush()
            db.add(RoleAssignment(role_id=row.id, user_id=user_id))
            db.commit()

    def sign(self, claims: dict[str, Any], typ: str | None = None) -> str:
        """A JWT signed with the provider's own active key (for tokens it would not issue)."""

        with self.runtime.sessions() as db:
            token = self.runtime.keys.sign_jwt(claims, "RS256", typ, session=db)
            db.commit()
        return token


def _backends() -> list[Any]:
    return [
        "sqlite",
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(not POSTGRES_URL, reason="SSO_TEST_POSTGRES_URL is not set"),
        ),
    ]


@pytest.fixture(scope="module", params=_backends())
def provider(
    request: pytest.FixtureRequest,
    backend_urls: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Provider]:
    """The real provider, shared by the tests of one module (on each backend)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tmp = tmp_path_factory.mktemp("provider")
    settings = make_settings(backend_urls[request.param], tmp, issuer=url)
    runtime = build_app_runtime(settings)
    _empty_all_tables(runtime)
    server = Server(create_provider(settings, runtime), port)
    env = {
        # The CLI registers these web apps with http://127.0.0.1 redirect URIs: allowed only
        # in a development deployment (sso.oauth.redirect_uris).
        "SSO_ENV": "dev",
        "SSO_DATABASE_URL": settings.database_url,
        "SSO_SECRET_KEY": settings.secret_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_KEY_ENCRYPTION_KEY": settings.key_encryption_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_ISSUER": url,
        "SSO_VAR_DIR": str(settings.var_dir),
    }
    yield Provider(url, runtime, env)
    server.stop()
    runtime.dispose()


@dataclass
class RP:
    """One relying party: its app, settings and where it is served."""

    name: str
    url: str
    app: Any
    settings: Any
    client_id: str
    client_secret: str
    server: Server

    @property
    def toolkit(self) -> Any:
        return self.app.state.toolkit


RP_SPECS: dict[str, tuple[str, str, str]] = {
    # name: (module, settings class, scope)
    "event": ("event", "EventSettings", "openid profile email roles offline_access"),
    "portal": (
        "data_portal",
        "PortalSettings",
        "openid profile email opd roles offline_access datasets:read datasets:write",
    ),
    "hotspot": ("hotspot", "HotspotSettings", "openid profile email roles offline_access"),
}


def start_rp(
    provider: Provider,
    name: str,
    tmp: Path,
    *,
    backchannel: bool = True,
    grant_types: tuple[str, ...] = (),
    trusted: bool = True,
    **overrides: Any,
) -> RP:
    import importlib

    module, settings_cls, scope = RP_SPECS[name]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client_id, secret = provider.register(
        f"Test {name}",
        base,
        scope,
        backchannel=backchannel,
        grant_types=grant_types,
        trusted=trusted,
    )
    settings_type = getattr(importlib.import_module(f"{module}.settings"), settings_cls)
    values: dict[str, Any] = {
        "oidc_issuer": provider.url,
        "client_id": client_id,
        "client_secret": secret,
        "base_url": base,
        "port": port,
        "database_url": f"sqlite:///{tmp / name}.db",
        "jwks_min_refetch_interval": 0.0,
    }
    values.update(overrides)
    settings = settings_type(_env_file=None, **values)
    app = importlib.import_module(f"{module}.app").create_app(settings)
    return RP(name, base, app, settings, client_id, secret, Server(app, port))


@dataclass
class City:
    provider: Provider
    event: RP
    portal: RP
    hotspot: RP

    def stop(self) -> None:
        for rp in (self.event, self.portal, self.hotspot):
            rp.server.stop()
            rp.toolkit.engine.dispose()


def build_city(provider: Provider, tmp: Path, **overrides: dict[str, Any]) -> City:
    city = City(
        provider,
        start_rp(provider, "event", tmp, **overrides.get("event", {})),
        start_rp(provider, "portal", tmp, **overrides.get("portal", {})),
        start_rp(provider, "hotspot", tmp, **overrides.get("hotspot", {})),
    )
    return city


# -- driving a login over HTTP, as a browser would ------------------------------------------


def form_of(page: str) -> tuple[str, str]:
    action = FORM_ACTION_RE.search(page)
    csrf = CSRF_RE.search(page)
    assert action and csrf, page[:2000]
    return html.unescape(action.group(1)), html.unescape(csrf.group(1))


def browser_client() -> httpx.Client:
    """A cookie jar of its own, like a browser (the shared TLS context keeps it cheap)."""
    return httpx.Client(follow_redirects=True, timeout=20, verify=SSL_CONTEXT)


# For calls that need no cookies (APIs, token endpoint): one client, one TLS context.
HTTP = httpx.Client(timeout=20, verify=SSL_CONTEXT)


def login(http: httpx.Client, rp: RP, username: str, next_url: str = "/") -> httpx.Response:
    """Log in at ``rp`` through the provider's login page; returns the final RP page."""
    page = http.get(f"{rp.url}/login", params={"next": next_url})
    if 'name="password"' in page.text:
        action, csrf = form_of(page.text)
        page = http.post(
            httpx.URL(str(page.url)).join(action),
            data={"username": username, "password": PASSWORD, "csrf_token": csrf},
        )
    assert str(page.url).startswith(rp.url), f"ended at {page.url}: {page.text[:1500]}"
    return page


def csrf_from(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, page[:2000]
    return html.unescape(match.group(1))


def post_form(
    http: httpx.Client, url: str, page_with_csrf: str, data: dict[str, Any] | None = None
) -> httpx.Response:
    return http.post(url, data={"csrf_token": csrf_from(page_with_csrf), **(data or {})})


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()
