"""docker-compose.yml, checked without a Docker engine: commands are real `sso …` (or client)
commands, `SSO_*` variables are settings, host ports don't clash, build contexts and
dependencies exist, and the provider's prod environment passes the settings checks."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from cryptography.fernet import Fernet

import sso.cli
from sso.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"

# Relying parties that are planned but not written yet: their build context may be missing until
# they land. Remove an entry once clients/<name>/ exists (the test then checks it for real).
PENDING_CLIENT_DIRS = {"clients/event", "clients/data_portal", "clients/hotspot"}

# Each relying party: its build context, the module `python -m` runs, its env variable prefix.
CLIENTS = {
    "event": ("clients/event", "event", "EVENT_"),
    "data-portal": ("clients/data_portal", "data_portal", "PORTAL_"),
    "hotspot": ("clients/hotspot", "hotspot", "HOTSPOT_"),
}
DEPENDS_ON_CONDITIONS = {
    "service_started",
    "service_healthy",
    "service_completed_successfully",
}
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?+][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _context(service: dict[str, Any]) -> str | None:
    build = service.get("build")
    if build is None:
        return None
    context = build if isinstance(build, str) else build.get("context", ".")
    return Path(context).as_posix()


def _dockerfile_name(service: dict[str, Any]) -> str:
    build = service["build"]
    return str(build.get("dockerfile", "Dockerfile")) if isinstance(build, dict) else "Dockerfile"


def _dockerfile_entrypoint(service: dict[str, Any]) -> list[str]:
    """The ENTRYPOINT (exec form) of the Dockerfile the service is built from, if any."""
    context = _context(service)
    if context is None:
        return []
    dockerfile = ROOT / context / _dockerfile_name(service)
    if not dockerfile.is_file():
        return []
    entrypoint: list[str] = []
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if line.strip().upper().startswith("ENTRYPOINT"):
            value = line.strip()[len("ENTRYPOINT") :].strip()
            entrypoint = json.loads(value) if value.startswith("[") else shlex.split(value)
    return entrypoint


def _words(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _argv(service: dict[str, Any]) -> list[str]:
    """What the container runs: entrypoint (compose's, else the Dockerfile's) + command."""
    if "entrypoint" in service:
        entrypoint = _words(service["entrypoint"])
    else:
        entrypoint = _dockerfile_entrypoint(service)
    return entrypoint + _words(service.get("command"))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = [item.split("=", 1) for item in env]
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _check_sso_command(argv: list[str]) -> None:
    """Resolve ``sso …`` through the Typer app's command groups and parse its options.

    Duck-typed on purpose: recent Typer releases carry their own copy of click, so the group and
    exception classes are not ``click``'s.
    """
    root = typer.main.get_command(sso.cli.app)
    ctx = typer.Context(root, info_name="sso")
    command: Any = root
    path = ["sso"]
    args = argv[1:]
    while hasattr(command, "list_commands"):
        if not args or args[0].startswith("-"):
            pytest.fail(f"`{shlex.join(argv)}` names no subcommand of `{' '.join(path)}`")
        sub = command.get_command(ctx, args[0])
        if sub is None:
            known = ", ".join(command.list_commands(ctx))
            pytest.fail(
                f"`{shlex.join(argv)}`: `{' '.join(path)}` has no command {args[0]!r} "
                f"(it has: {known})"
            )
        path.append(args[0])
        args = args[1:]
        if hasattr(sub, "list_commands"):
            ctx = typer.Context(sub, info_name=path[-1], parent=ctx)
        command = sub
    try:
        # Parses (and so validates) the options and arguments; invokes nothing.
        command.make_context(path[-1], list(args), parent=ctx)
    except Exception as exc:  # click's UsageError family, whichever copy of click it is
        if not hasattr(exc, "format_message"):
            raise
        pytest.fail(f"`{shlex.join(argv)}`: {exc.format_message()}")


def test_sso_commands_are_real_cli_commands(services: dict[str, dict[str, Any]]) -> None:
    checked = []
    for name, service in services.items():
        argv = _argv(service)
        if argv and argv[0] == "sso":
            _check_sso_command(argv)
            checked.append(name)
    assert {"sso", "sso-migrate"} <= set(checked), f"sso services found: {checked}"


def test_provider_serves_with_several_workers(services: dict[str, dict[str, Any]]) -> None:
    argv = _argv(services["sso"])
    assert argv[:2] == ["sso", "serve"]
    assert int(argv[argv.index("--workers") + 1]) > 1
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # noqa: S104 (inside the container)
    depends = services["sso"]["depends_on"]
    assert depends["sso-migrate"]["condition"] == "service_completed_successfully"
    assert _argv(services["sso-migrate"]) == ["sso", "db", "upgrade"]
    assert "/readyz" in " ".join(_words(services["sso"]["healthcheck"]["test"]))


def test_client_commands_run_their_module(services: dict[str, dict[str, Any]]) -> None:
    for name, (context, module, prefix) in CLIENTS.items():
        assert name in services, f"relying party {name!r} is missing from docker-compose.yml"
        service = services[name]
        assert _context(service) == context, f"{name}: build context should be {context}"
        argv = _argv(service)
        assert argv[:3] == ["python", "-m", module], f"{name}: command {argv}"
        directory = ROOT / context
        if directory.is_dir():
            candidates = [
                directory / module / "__main__.py",
                directory / f"{module}.py",
                directory / "src" / module / "__main__.py",
            ]
            assert any(c.is_file() for c in candidates), (
                f"{name}: `python -m {module}` has nothing to run in {context}/"
            )
        env = _environment(service)
        for key in ("OIDC_ISSUER", "CLIENT_ID", "CLIENT_SECRET"):
            assert prefix + key in env, f"{name}: {prefix}{key} is not set"
        strays = [k for k in env if not k.startswith(prefix)]
        assert not strays, f"{name}: variables without the {prefix} prefix: {strays}"


def test_sso_variables_are_settings(services: dict[str, dict[str, Any]]) -> None:
    unknown = [
        f"{name}: {key}"
        for name, service in services.items()
        for key in _environment(service)
        if key.startswith("SSO_") and key[4:].lower() not in Settings.model_fields
    ]
    assert not unknown, "SSO_* variables that are not fields of Settings:\n" + "\n".join(unknown)


def test_provider_environment_passes_prod_checks(services: dict[str, dict[str, Any]]) -> None:
    # Stand-ins for the ${VAR:?} values an operator supplies: real-looking, not placeholders.
    supplied = {
        "SSO_SECRET_KEY": "k" * 20 + "3Jx9-q7Lw2Zr5Vn8Tb4Hc6Yd1",
        "SSO_KEY_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "POSTGRES_PASSWORD": "pw",
    }
    for name in ("sso", "sso-migrate"):
        env = _environment(services[name])
        assert env["SSO_ENV"] == "prod"
        values: dict[str, Any] = {
            key[4:].lower(): INTERPOLATION.sub(lambda m: supplied.get(m.group(1), "x"), value)
            for key, value in env.items()
            if key.startswith("SSO_")
        }
        settings = Settings(_env_file=None, **values)
        assert settings.problems() == [], f"{name}: {settings.problems()}"
        for secret in ("SSO_SECRET_KEY", "SSO_KEY_ENCRYPTION_KEY"):
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", env[secret]), (
                f"{name}: {secret} must come from the operator as ${{{secret}:?…}}"
            )


def _host_ports(spec: str | int | dict[str, Any]) -> list[tuple[int, str]]:
    if isinstance(spec, dict):
        published = spec.get("published")
        protocol = str(spec.get("protocol", "tcp"))
        if published is None:
            return []
        text = str(published)
    else:
        text, _, protocol = str(spec).partition("/")
        protocol = protocol or "tcp"
        parts = text.rsplit(":", 2)
        if len(parts) == 1:
            return []  # container port only: Docker picks a free host port
        text = parts[-2]
        if not text:
            return []
    low, _, high = text.partition("-")
    return [(port, protocol) for port in range(int(low), int(high or low) + 1)]


def test_host_ports_do_not_clash(services: dict[str, dict[str, Any]]) -> None:
    owners: dict[tuple[int, str], str] = {}
    clashes = []
    for name, service in services.items():
        for spec in service.get("ports") or []:
            for port in _host_ports(spec):
                if port in owners:
                    clashes.append(f"host port {port[0]}/{port[1]}: {owners[port]} and {name}")
                owners[port] = name
    assert not clashes, "\n".join(clashes)
    expected = {8000: "sso", 8101: "event", 8102: "data-portal", 8103: "hotspot"}
    assert {port: owners.get((port, "tcp")) for port in expected} == expected


def test_build_contexts_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        context = _context(service)
        if context is None:
            continue
        directory = ROOT / context
        if not directory.is_dir():
            assert context in PENDING_CLIENT_DIRS, f"{name}: build context {context}/ is missing"
            continue
        dockerfile = _dockerfile_name(service)
        assert (directory / dockerfile).is_file(), f"{name}: no {dockerfile} in {context}/"


def test_depends_on_existing_services(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {dep: {"condition": "service_started"} for dep in depends}
        for dep, options in depends.items():
            assert dep in services, f"{name} depends on unknown service {dep!r}"
            assert dep != name, f"{name} depends on itself"
            condition = (options or {}).get("condition", "service_started")
            assert condition in DEPENDS_ON_CONDITIONS, f"{name} -> {dep}: condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s healthcheck: none"
