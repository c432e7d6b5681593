"""Redirect URIs (issue 14, item 2): one set of rules for every way a client is registered — the
CLI, the admin console, the developer portal, Dynamic Client Registration — and for matching at
``/authorize``. The port of a loopback redirect URI varies only for native apps (RFC 8252 §7.3,
RFC 9700 §2.1); web apps may use loopback URIs only in a development deployment."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from sso.admin.services import clients as admin_clients
from sso.app import create_app
from sso.cli import app as cli
from sso.core.errors import InvalidInput
from sso.db.models import User
from sso.oauth import developer_apps, initial_access, redirect_uris
from sso.oauth.clients import ClientSpec, register
from sso.web.app_runtime import AppRuntime, build_app_runtime
from tests.conftest import make_settings
from tests.factories import create_user
from tests.oidc.flow import authorize_url, login

# (redirect URI, kind, accepted in test/prod, accepted in dev)
CASES = [
    ("https://app.example.id/callback", "web", True, True),
    ("https://app.example.id/callback", "native", True, True),
    ("http://127.0.0.1:39412/callback", "web", False, True),
    ("http://[::1]:39412/callback", "web", False, True),
    ("http://localhost:3000/callback", "web", False, True),
    ("http://127.0.0.1/callback", "web", False, True),
    ("http://127.0.0.1:39412/callback", "native", True, True),
    ("http://[::1]/callback", "native", True, True),
    ("http://localhost:3000/callback", "native", False, True),
    ("id.go.tangsel.app:/callback", "native", True, True),
    ("id.go.tangsel.app:/callback", "web", False, False),
    ("myapp:/callback", "native", False, False),
    ("http://app.example.id/callback", "web", False, False),
    ("http://app.example.id/callback", "native", False, False),
    ("http://10.1.2.3/callback", "web", False, False),
    ("https://*.example.id/callback", "web", False, False),
    ("https://app.example.id/callback#x", "web", False, False),
    ("javascript:alert(1)//", "native", False, False),
    ("https://user:pw@app.example.id/callback", "web", False, False),
    ("http://[::1/callback", "native", False, False),
]


# ------------------------------------------------------------------ the four registration paths
def via_cli(rt: AppRuntime, owner: User, kind: str, uri: str) -> bool:
    s = rt.settings
    env = {
        "SSO_ENV": s.env,
        "SSO_DATABASE_URL": s.database_url,
        "SSO_SECRET_KEY": s.secret_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_KEY_ENCRYPTION_KEY": s.key_encryption_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_ISSUER": s.issuer,
        "SSO_VAR_DIR": str(s.var_dir),
    }
    args = ["clients", "create", "--name", "Via CLI", "--redirect-uri", uri, "--json"]
    if kind == "native":
        args.append("--public")  # a public client without a kind is a native app
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    if result.exit_code == 0:
        assert json.loads(result.stdout)["client_id"]
        return True
    assert "redirect URI" in result.output, result.output
    return False


def via_admin(rt: AppRuntime, owner: User, kind: str, uri: str) -> bool:
    with rt.sessions() as session:
        client = register(
            session,
            rt.secret_key,
            ClientSpec(
                name="Via admin",
                redirect_uris=["https://app.example.id/start"],
                public=kind == "native",
                app_kind=kind,
            ),
        ).client
        session.commit()
        change = admin_clients.ClientEdit(
            version=client.version,
            redirect_uris=[uri],
            post_logout_redirect_uris=[],
            scope=client.scope,
            grant_types=list(client.grant_types),
            access_token_lifetime=None,
            refresh_token_lifetime=None,
            trusted=False,
            backchannel_logout_uri=None,
        )
        try:
            admin_clients.edit(session, rt.settings, client, change, actor_id=owner.id)
        except InvalidInput as exc:
            assert exc.message.startswith("developers.error.redirect_"), exc.message
            return False
        session.commit()
        return True


def via_portal(rt: AppRuntime, owner: User, kind: str, uri: str) -> bool:
    details = developer_apps.AppDetails(name="Via portal", kind=kind, redirect_uris=[uri])
    with rt.sessions() as session:
        try:
            developer_apps.create_app(session, rt.settings, owner, details)
        except developer_apps.AppInvalid as exc:
            assert [e.field for e in exc.errors] == ["redirect_uris"], exc.errors
            return False
        session.commit()
        return True


def via_dynamic_registration(rt: AppRuntime, owner: User, kind: str, uri: str) -> bool:
    with rt.sessions() as session:
        token = initial_access.issue(session, rt.secret_key, description="tests").token
        session.commit()
    body = {
        "client_name": "Via RFC 7591",
        "redirect_uris": [uri],
        "application_type": kind,
        "token_endpoint_auth_method": "none" if kind == "native" else "client_secret_basic",
    }
    with TestClient(create_app(rt.settings, rt), base_url="http://testserver") as http:
        r = http.post("/oauth2/register", json=body, headers={"Authorization": f"Bearer {token}"})
    if r.status_code == 201:
        return True
    assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri", r.text
    assert r.json()["error_description"]
    return False


PATHS: dict[str, Callable[[AppRuntime, User, str, str], bool]] = {
    "cli": via_cli,
    "admin": via_admin,
    "portal": via_portal,
    "dynamic_registration": via_dynamic_registration,
}


@pytest.fixture(params=["test", "dev"])
def env_runtime(
    request: pytest.FixtureRequest, runtime: AppRuntime, tmp_path: Path
) -> Iterator[AppRuntime]:
    """The test deployment's runtime, or one of a development deployment on the same database."""
    if request.param == "test":
        yield runtime
        return
    settings = make_settings(runtime.settings.database_url, tmp_path / "dev", env="dev")
    rt = build_app_runtime(settings)
    yield rt
    rt.dispose()


@pytest.mark.parametrize(("uri", "kind", "in_test", "in_dev"), CASES)
def test_every_registration_path_applies_the_same_rules(
    env_runtime: AppRuntime, db: Session, uri: str, kind: str, in_test: bool, in_dev: bool
) -> None:
    owner = create_user(env_runtime, db, username="dewi")
    expected = in_dev if env_runtime.settings.env == "dev" else in_test
    outcomes = {name: path(env_runtime, owner, kind, uri) for name, path in PATHS.items()}
    assert outcomes == dict.fromkeys(PATHS, expected)
    # The rule itself, for the record (what /authorize and the paths share).
    native = kind == "native"
    dev = env_runtime.settings.env == "dev"
    assert (redirect_uris.problem(uri, native=native, dev=dev) is None) == expected


def test_production_refuses_what_dev_allows(runtime: AppRuntime, db: Session) -> None:
    prod = runtime.settings.model_copy(update={"env": "prod"})  # only the kind of deployment
    owner = create_user(runtime, db, username="dewi")
    details = developer_apps.AppDetails(
        name="Local try", kind="web", redirect_uris=["http://127.0.0.1:8000/callback"]
    )
    errors = developer_apps.validate(details, prod)
    assert [(e.field, e.key) for e in errors] == [
        ("redirect_uris", "developers.error.redirect_loopback_native")
    ]
    with runtime.sessions() as session, pytest.raises(InvalidInput):
        register(
            session,
            runtime.secret_key,
            ClientSpec(name="Local try", redirect_uris=["http://localhost:8000/callback"]),
            env="prod",
        )
    assert owner.id


# ------------------------------------------------------------------------------ /authorize
def _register_via_cli(rt: AppRuntime, *args: str) -> str:
    s = rt.settings
    env = {
        "SSO_ENV": s.env,
        "SSO_DATABASE_URL": s.database_url,
        "SSO_SECRET_KEY": s.secret_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_KEY_ENCRYPTION_KEY": s.key_encryption_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_ISSUER": s.issuer,
        "SSO_VAR_DIR": str(s.var_dir),
    }
    result = CliRunner().invoke(
        cli,
        ["clients", "create", "--name", "Local", *args, "--json"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    client_id: str = json.loads(result.stdout)["client_id"]
    return client_id


@pytest.fixture
def dev_runtime(runtime: AppRuntime, tmp_path: Path) -> Iterator[AppRuntime]:
    settings = make_settings(runtime.settings.database_url, tmp_path / "dev", env="dev")
    rt = build_app_runtime(settings)
    yield rt
    rt.dispose()


@pytest.fixture
def dev_http(dev_runtime: AppRuntime) -> Iterator[TestClient]:
    with TestClient(
        create_app(dev_runtime.settings, dev_runtime), base_url="http://testserver"
    ) as c:
        yield c


def test_web_app_loopback_redirect_uri_matches_exactly(
    dev_runtime: AppRuntime, dev_http: TestClient, db: Session
) -> None:
    """A confidential web client registered with a loopback URI (dev) gets its code at that
    port and nowhere else: another program on the next port catches nothing."""
    create_user(dev_runtime, db, username="siti")
    client_id = _register_via_cli(
        dev_runtime, "--redirect-uri", "http://127.0.0.1:39412/callback", "--trusted"
    )
    r = dev_http.get(
        authorize_url(client_id, "http://127.0.0.1:39413/callback").url, follow_redirects=False
    )
    assert r.status_code == 400 and "location" not in r.headers
    location = login(dev_http, authorize_url(client_id, "http://127.0.0.1:39412/callback"), "siti")
    assert location.startswith("http://127.0.0.1:39412/callback?code=")
    r = dev_http.get(
        authorize_url(client_id, "http://localhost:39412/callback").url, follow_redirects=False
    )
    assert r.status_code == 400 and "location" not in r.headers


def test_native_app_loopback_port_varies(
    dev_runtime: AppRuntime, dev_http: TestClient, db: Session
) -> None:
    create_user(dev_runtime, db, username="siti")
    client_id = _register_via_cli(
        dev_runtime,
        "--public",
        "--trusted",
        "--redirect-uri",
        "http://127.0.0.1:39412/callback",
        "--redirect-uri",
        "http://localhost:39412/callback",
    )
    location = login(dev_http, authorize_url(client_id, "http://127.0.0.1:50001/callback"), "siti")
    assert location.startswith("http://127.0.0.1:50001/callback?code=")
    for wrong in (
        "http://127.0.0.1:50001/other",  # the path is fixed
        "http://localhost:50001/callback",  # a name is not the loopback interface (§8.3)
        "https://127.0.0.1:50001/callback",
        "http://127.0.0.2:39412/callback",
    ):
        r = dev_http.get(authorize_url(client_id, wrong).url, follow_redirects=False)
        assert r.status_code == 400 and "location" not in r.headers, wrong


@pytest.mark.parametrize(
    ("registered", "presented", "native", "expected"),
    [
        ("http://127.0.0.1:39412/callback", "http://127.0.0.1:39413/callback", False, False),
        ("http://127.0.0.1:39412/callback", "http://127.0.0.1:39413/callback", True, True),
        ("http://127.0.0.1/callback", "http://127.0.0.1:39413/callback", True, True),
        ("http://[::1]:8000/cb", "http://[::1]:9000/cb", True, True),
        ("http://[::1]:8000/cb", "http://[::1]:9000/cb", False, False),
        ("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb?x=1", True, False),
        ("http://127.0.0.1:8000/cb", "http://127.0.0.1:9000/cb#x", True, False),
        ("http://127.0.0.1:8000/cb", "http://u@127.0.0.1:9000/cb", True, False),
        ("http://localhost:8000/cb", "http://localhost:9000/cb", True, False),
        ("http://localhost:8000/cb", "http://localhost:8000/cb", False, True),
        ("https://app.example.id/cb", "https://app.example.id:8443/cb", True, False),
        ("https://app.example.id/cb", "https://APP.example.id/cb", False, False),
    ],
)
def test_matching(registered: str, presented: str, native: bool, expected: bool) -> None:
    assert redirect_uris.matches(registered, presented, native=native) is expected


def test_admin_console_shows_why_a_redirect_uri_is_refused(
    app: object, http: TestClient, runtime: AppRuntime, db: Session
) -> None:
    """The admin console refuses with the shared rules and says why, in the person's language."""
    from tests.admin.conftest import NIP_ADMIN, agencies, browser, person

    agencies(db)
    user, totp = person(runtime, db, "adminkota", role="admin", nip=NIP_ADMIN)
    admin = browser(app, user, totp)  # type: ignore[arg-type]
    with runtime.sessions() as session:
        client = register(
            session,
            runtime.secret_key,
            ClientSpec(name="Portal", redirect_uris=["https://app.example.id/callback"]),
        ).client
        session.commit()
        client_id, version = client.client_id, client.version
    path = f"/admin/clients/{client_id}"
    form = {
        "version": str(version),
        "redirect_uris": "http://127.0.0.1:39412/callback",
        "post_logout_redirect_uris": "",
        "scope": ["openid", "profile", "email"],
        "extra_scope": "",
        "grant_types": ["authorization_code", "refresh_token"],
    }
    for language, text in (("id", "hanya untuk aplikasi seluler"), ("en", "native apps only")):
        admin.http.cookies.set("lang", language)
        r = admin.post(f"{path}/edit", form, page=path, headers={"accept-language": language})
        assert r.status_code == 400 and text in r.text, r.text[:2000]
    db.expire_all()
    assert db.get(type(client), client.id).redirect_uris == ["https://app.example.id/callback"]  # type: ignore[union-attr]
    admin.http.close()
