#!/usr/bin/env python3
"""The city on one machine: Tangsel SSO and its three relying parties, with demo data.

    python clients/demo.py               # start what is missing, set up once, serve until Ctrl-C
    python clients/demo.py --setup-only  # only register the clients and seed (provider running)

It talks to the provider the way an operator does, through the ``sso`` command line (never
by writing to the provider's database), and to each relying party through its own
``python -m <app> seed`` command. On the first run it:

1. starts the provider on http://127.0.0.1:8000 if nothing answers there
   (``sso db upgrade``, ``sso bootstrap``, ``sso serve``);
2. creates the demo agencies and people (``sso agencies create``, ``sso users create``);
3. registers the event site, the data portal and the hotspot portal, and one agency system
   for the client credentials example (``sso clients create … --json``), and writes each
   app's settings to ``clients/<app>/.env`` (kept out of git);
4. seeds events, datasets and Wi-Fi points;

then serves the three apps on ports 8101, 8102 and 8103. A second run reuses everything
(``--force`` registers the clients again). The demo grants the app roles (organizer,
publisher, hotspot-operator) in the apps' own settings (``*_GRANT_ROLES``); ``sso roles``
would give them in the provider instead, see clients/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from demo_data import AGENCIES, APP_GRANTS, APPS, DEMO_PASSWORD, GRANT_ROLES, PEOPLE

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "clients"


def find_sso(explicit: str | None) -> str:
    if explicit:
        return explicit
    venv = ROOT / ".venv" / "bin" / "sso"
    return str(venv) if venv.exists() else "sso"


class Demo:
    def __init__(self, sso: str, issuer: str) -> None:
        self.sso = sso
        self.issuer = issuer.rstrip("/")
        self.children: list[subprocess.Popen[bytes]] = []
        # The provider's own settings come from SSO_* variables (and .env, var/ in the
        # repository root, as for `make run`); its issuer is the one we talk to.
        self.sso_env = {**os.environ, "SSO_ISSUER": self.issuer}

    # -- the provider, through its CLI -------------------------------------------------------

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(  # noqa: S603 (the operator's own `sso` command)
            [self.sso, *args],
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            env=self.sso_env,
        )
        if check and result.returncode != 0:
            raise SystemExit(f"sso {' '.join(args[:2])} failed: {result.stderr.strip()}")
        return result.stdout

    def answering(self) -> bool:
        return answers(f"{self.issuer}/readyz")

    def start_provider(self) -> None:
        if self.answering():
            print(f"provider: already answering at {self.issuer}")
            return
        print("provider: migrating and bootstrapping (an admin password is printed once)")
        for step in (["db", "upgrade"], ["bootstrap"]):
            done = subprocess.run([self.sso, *step], cwd=ROOT, env=self.sso_env)  # noqa: S603
            if done.returncode:
                raise SystemExit(f"`sso {' '.join(step)}` failed (see above)")
        port = self.issuer.rsplit(":", 1)[-1]
        self.spawn([self.sso, "serve", "--host", "127.0.0.1", "--port", port], ROOT, self.sso_env)
        for _ in range(120):
            if self.answering():
                print(f"provider: serving {self.issuer}")
                return
            time.sleep(0.5)
        raise SystemExit("the provider did not start")

    def setup_people(self) -> None:
        known = {a["code"] for a in json.loads(self.cli("agencies", "list", "--json") or "[]")}
        for code, name in AGENCIES:
            if code not in known:
                self.cli("agencies", "create", "--code", code, "--name", name)
        users = {u["username"] for u in json.loads(self.cli("users", "list", "--json") or "[]")}
        for username, kind, name, agency, nip, _what in PEOPLE:
            if username in users:
                continue
            args = [
                "users",
                "create",
                "--username",
                username,
                "--email",
                f"{username}@demo.tangerangselatankota.go.id",
                "--kind",
                kind,
                "--name",
                name,
                "--password-stdin",
            ]
            if agency:
                args += ["--agency", agency, "--nip", nip or ""]
            self.cli(*args, stdin=DEMO_PASSWORD + "\n")

    def register(
        self, name: str, base: str, scope: str, grant_types: tuple[str, ...] = ()
    ) -> dict[str, str]:
        # Explicit grant types replace the CLI's default (authorization_code, refresh_token).
        grants = [arg for grant in grant_types for arg in ("--grant-type", grant)]
        registered: dict[str, str] = json.loads(
            self.cli(
                "clients",
                "create",
                "--name",
                name,
                "--redirect-uri",
                f"{base}/auth/callback",
                "--post-logout-redirect-uri",
                f"{base}/logged-out",
                "--backchannel-logout-uri",
                f"{base}/backchannel-logout",
                "--scope",
                scope,
                "--trusted",
                *grants,
                "--json",
            )
        )
        return registered

    # -- the relying parties ---------------------------------------------------------------

    def setup_apps(self, force: bool) -> None:
        registered = {c["client_id"] for c in json.loads(self.cli("clients", "list", "--json"))}
        env_files = {key: CLIENTS / spec[0] / ".env" for key, spec in APPS.items()}
        existing = {key: read_env(path) for key, path in env_files.items()}
        fresh = force or any(
            existing[key].get(f"{APPS[key][2]}CLIENT_ID") not in registered for key in APPS
        )
        if not fresh:
            print("clients: registered already (use --force to register them again)")
            return
        machine = json.loads(
            self.cli(
                "clients",
                "create",
                "--name",
                "Sistem Informasi Dinkes",
                "--scope",
                "datasets:read datasets:write",
                "--json",
            )
        )
        for key, (_dir, _module, prefix, port, name, scope) in APPS.items():
            base = f"http://127.0.0.1:{port}"
            client = self.register(name, base, scope, APP_GRANTS.get(key, ()))
            values = {
                "OIDC_ISSUER": self.issuer,
                "CLIENT_ID": client["client_id"],
                "CLIENT_SECRET": client["client_secret"],
                "BASE_URL": base,
                "PORT": str(port),
                "GRANT_ROLES": json.dumps(GRANT_ROLES[key]),
            }
            if key == "portal":
                values["API_AUDIENCES"] = machine["client_id"]
                values["API_CLIENT_AGENCIES"] = json.dumps({machine["client_id"]: "DINKES"})
            if key == "hotspot":
                values["GATEWAY_TOKEN"] = secrets.token_urlsafe(24)
            write_env(env_files[key], {prefix + k: v for k, v in values.items()})
            print(f"{name}: registered as {client['client_id']}, settings in {env_files[key]}")
        write_env(
            CLIENTS / "data_portal" / "push.env",
            {
                "PUSH_ISSUER": self.issuer,
                "PUSH_PORTAL": "http://127.0.0.1:8102",
                "PUSH_CLIENT_ID": machine["client_id"],
                "PUSH_CLIENT_SECRET": machine["client_secret"],
            },
        )

    def app_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CLIENTS), env.get("PYTHONPATH")]))
        return env

    def seed(self) -> None:
        for directory, module, *_ in APPS.values():
            done = subprocess.run(  # noqa: S603 (our own apps)
                [sys.executable, "-m", module, "seed"], cwd=CLIENTS / directory, env=self.app_env()
            )
            if done.returncode:
                raise SystemExit(f"`python -m {module} seed` failed (see above)")

    def serve_apps(self) -> None:
        for directory, module, *_ in APPS.values():
            self.spawn([sys.executable, "-m", module], CLIENTS / directory, self.app_env())
        for _dir, module, _prefix, port, *_ in APPS.values():
            for _ in range(120):
                if answers(f"http://127.0.0.1:{port}/healthz"):
                    break
                if any(child.poll() is not None for child in self.children):
                    raise SystemExit(f"{module} stopped at start (see above)")
                time.sleep(0.5)

    def spawn(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.children.append(subprocess.Popen(argv, cwd=cwd, env=env))  # noqa: S603

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.terminate()  # uvicorn shuts down gracefully on SIGTERM
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own http URLs)
            return True
    except (urllib.error.URLError, OSError):
        return False


def read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip().strip("'") for k, v in pairs if not k.startswith("#")}


def write_env(path: Path, values: dict[str, str]) -> None:
    lines = ["# Written by clients/demo.py: demo settings, do not commit."]
    lines += [f"{key}='{value}'" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def summary(issuer: str) -> str:
    hotspot = read_env(CLIENTS / "hotspot" / ".env")
    people = "\n".join(f"  {u:<6} {kind:<8} {what}" for u, kind, _n, _a, _nip, what in PEOPLE)
    return f"""
Tangsel SSO demo
  provider        {issuer}
  event site      http://127.0.0.1:8101
  data portal     http://127.0.0.1:8102
  hotspot portal  http://127.0.0.1:8103/?location=TSL-0001&mac=AA:BB:CC:DD:EE:01
  a smart TV      http://127.0.0.1:8103/device?location=TSL-0001&mac=AA:BB:CC:DD:EE:02

Accounts (password: {DEMO_PASSWORD})
{people}

Log in at one app and open the others: no password asked. Log out at one: all three end.
Push a dataset as the Dinas Kesehatan system (client credentials):
  cd clients/data_portal && set -a && . ./push.env && set +a && \\
  python push_dataset.py --title "Stok obat" --visibility restricted --file some.csv
Ask what a gateway asks:
  curl -H 'Authorization: Bearer {hotspot.get("HOTSPOT_GATEWAY_TOKEN", "…")}' \\
    'http://127.0.0.1:8103/api/gateway/decision?mac=AA:BB:CC:DD:EE:01&location=TSL-0001'
"""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuer", default=os.environ.get("SSO_ISSUER", "http://127.0.0.1:8000"))
    parser.add_argument("--sso", help="The provider's CLI (default: .venv/bin/sso, else sso).")
    parser.add_argument(
        "--setup-only", action="store_true", help="Register and seed, serve nothing."
    )
    parser.add_argument("--force", action="store_true", help="Register the clients again.")
    args = parser.parse_args(argv)
    # Ctrl-C, and a plain `kill`, stop everything this script started (a shell may have left
    # SIGINT ignored for a background job; we want it).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    demo = Demo(find_sso(args.sso), args.issuer)
    try:
        if args.setup_only:
            if not demo.answering():
                print(f"warning: nothing answers at {args.issuer}; the CLI still works")
        else:
            demo.start_provider()
        demo.setup_people()
        demo.setup_apps(args.force)
        demo.seed()
        if args.setup_only:
            print(summary(demo.issuer))
            return 0
        demo.serve_apps()
        print(summary(demo.issuer))
        print("Ctrl-C stops everything this script started.")
        while all(child.poll() is None for child in demo.children):
            time.sleep(0.5)
        print("a process stopped; stopping the others")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
