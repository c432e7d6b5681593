"""Provisioning through SCIM: N staff created with ``POST /scim/v2/Users`` against a real
``sso serve`` on PostgreSQL, reporting creates per server CPU-second (issue 16: at least 300).

It makes a fresh database, migrates it, creates 20 agencies and a client_credentials client
with the ``scim`` scope through the ``sso`` CLI, starts ``sso serve --workers W``, takes a token
from /token, then sends the creates from this process (asyncio, ``--concurrency`` requests in
flight) with valid NIPs spread over the agencies. Server CPU is utime+stime of the uvicorn
master and its workers from /proc, read before and after; PostgreSQL's backends are reported
apart. The database is dropped at the end. ``--threads`` adds the CPU seconds of every
server thread (the event loop, the thread pool, background workers), ``--profile`` a py-spy
``--gil`` record of the server.

    .venv/bin/python bench/scim_provision.py [--count 10000] [--workers 1] [--concurrency 8]
        [--threads] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procfs import CLK_TCK, cpu_seconds, descendants  # noqa: E402

BIN = Path(sys.executable).parent
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
AGENCIES = [f"OPD{i:02d}" for i in range(20)]


def nip(i: int) -> str:
    """A valid, unique NIP: birth date, start of service (20+ years later), gender, number."""
    birth = f"{1960 + i % 40}{1 + i % 12:02d}{1 + i % 28:02d}"
    start = f"{1985 + i % 40}{1 + (i // 7) % 12:02d}"
    return f"{birth}{start}{1 + i % 2}{i // 80 % 1000:03d}"


def person(i: int) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": f"asn{i:06d}",
        "externalId": f"simpeg:{i}",
        "name": {"givenName": f"Pegawai{i}", "familyName": "Tangsel"},
        "emails": [{"value": f"asn{i:06d}@tangerangselatankota.go.id", "type": "work"}],
        "phoneNumbers": [{"value": f"+62811{i:07d}", "type": "work"}],
        "title": "Pelaksana",
        "active": True,
        ENTERPRISE: {"employeeNumber": nip(i), "department": AGENCIES[i % len(AGENCIES)]},
    }


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.db = f"sso_bench_scim_{os.getpid()}"
        self.admin_url = args.postgres
        base = args.postgres.rsplit("/", 1)[0]
        with socket_port() as port:
            self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SSO_")},
            "SSO_ENV": "test",
            "SSO_ISSUER": self.url,
            "SSO_LOG_LEVEL": "WARNING",
            "SSO_DATABASE_URL": f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{self.db}",
            "SSO_SECRET_KEY": secrets.token_urlsafe(48),
            "SSO_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "SSO_VAR_DIR": tempfile.mkdtemp(prefix="sso-bench-scim-"),
            "SSO_ACCESS_TOKEN_LIFETIME": "3600",
            "SSO_RATE_LIMIT_IP_PER_MINUTE": "100000000",
            "SSO_RATE_LIMIT_CLIENT_PER_MINUTE": "100000000",
            "MALLOC_ARENA_MAX": "2",
            # The `sso` of this checkout, not whichever the virtualenv has installed.
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        self.server: subprocess.Popen[bytes] | None = None

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self.admin_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        )

    def sso(self, *argv: str) -> str:
        done = subprocess.run(
            [str(BIN / "sso"), *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"sso {' '.join(argv)}: {done.stderr}")
        return done.stdout

    def prepare(self) -> tuple[str, str]:
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.db}"')
        self.sso("db", "upgrade")
        for code in AGENCIES:
            self.sso("agencies", "create", "--code", code, "--name", f"Dinas {code}")
        made = json.loads(
            self.sso(
                "clients",
                "create",
                "--name",
                "SIMPEG bench",
                "--grant-type",
                "client_credentials",
                "--scope",
                "scim",
                "--json",
            )
        )
        return made["client_id"], made["client_secret"]

    def start(self) -> None:
        cmd = [
            str(BIN / "sso"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.args.workers),
        ]
        self.server = subprocess.Popen(
            cmd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    time.sleep(1)  # every worker up
                    return
            time.sleep(0.3)
        raise SystemExit("server not ready")

    def server_cpu(self) -> float:
        assert self.server is not None
        pids = [self.server.pid, *descendants(self.server.pid)]
        return sum(c for c in map(cpu_seconds, pids) if c is not None)

    def threads(self) -> dict[str, float]:
        """CPU seconds per server thread (pid/tid comm), to see what besides requests burns."""
        assert self.server is not None
        out: dict[str, float] = {}
        for pid in [self.server.pid, *descendants(self.server.pid)]:
            with suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    raw = (task / "stat").read_text()
                    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
                    fields = raw[raw.rindex(")") + 2 :].split()
                    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
                    out[f"{pid}/{task.name} {comm}"] = cpu
        return out

    def db_cpu(self) -> float:
        with self.admin() as conn:
            pids = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db,)
                )
            ]
        return sum(c for c in map(cpu_seconds, pids) if c is not None)

    async def provision(self, token: str) -> tuple[int, list[str]]:
        errors: list[str] = []
        created = 0
        queue = iter(range(self.args.count))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        limits = httpx.Limits(max_connections=self.args.concurrency)
        async with httpx.AsyncClient(
            base_url=self.url, headers=headers, limits=limits, timeout=60
        ) as client:

            async def worker() -> None:
                nonlocal created
                for i in queue:
                    r = await client.post("/scim/v2/Users", content=json.dumps(person(i)))
                    if r.status_code == 201:
                        created += 1
                    elif len(errors) < 5:
                        errors.append(f"{r.status_code} {r.text[:200]}")

            await asyncio.gather(*(worker() for _ in range(self.args.concurrency)))
        return created, errors

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.server.wait(timeout=30)
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')


class socket_port:  # noqa: N801 (a context manager used like a function)
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--threads", action="store_true", help="report the server's CPU seconds per thread"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy raw profile of the server to this file "
        "(summarise with bench/profile_summary.py)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    run = Run(args)
    try:
        client_id, secret = run.prepare()
        run.start()
        token = httpx.post(
            f"{run.url}/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        ).json()["access_token"]
        spy = None
        if args.profile is not None:
            assert run.server is not None
            spy = subprocess.Popen(
                [
                    str(BIN / "py-spy"),
                    "record",
                    "--format",
                    "raw",
                    "--subprocesses",
                    "--gil",
                    "--rate",
                    "200",
                    "-o",
                    str(args.profile),
                    "-p",
                    str(run.server.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
        cpu0, db0, t0 = run.server_cpu(), run.db_cpu(), time.monotonic()
        threads0 = run.threads()
        created, errors = asyncio.run(run.provision(token))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        wall = time.monotonic() - t0
        cpu, db = run.server_cpu() - cpu0, run.db_cpu() - db0
        spent = {k: v - threads0.get(k, 0.0) for k, v in run.threads().items()}
        busy = {
            k: round(v, 2) for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v >= 0.05
        }
    finally:
        run.stop()
    print(
        json.dumps(
            {
                "creates": created,
                "errors": errors,
                "wall_s": round(wall, 1),
                "creates_per_s": round(created / wall, 1),
                "server_cpu_s": round(cpu, 1),
                "creates_per_server_cpu_s": round(created / cpu, 1) if cpu else None,
                "postgres_cpu_s": round(db, 1),
                "server_threads_cpu_s": busy if args.threads else None,
                "workers": args.workers,
                "concurrency": args.concurrency,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
