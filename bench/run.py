"""``make bench``: start the provider as production runs it, drive each load scenario from a
separate process for a bounded time, and print (and record in bench/README.md) a table of
throughput, latency, errors, server CPU, requests per server CPU-second and peak RSS.

Run with the project's virtualenv Python (``make bench`` does). Steps:

1. create a fresh PostgreSQL database (dropped at the end), ``sso db upgrade``, ``sso bootstrap``;
2. register the benchmark's clients with ``sso clients create`` and one citizen with
   ``sso users create`` (the provider makes the argon2id hash); copy that hash to 999 more
   citizens in SQL;
3. ``sso serve --workers <cores>`` with PostgreSQL and Redis, wait for ``/readyz``;
4. per scenario: a warm-up run, then ``--repeats`` measured runs. The load comes from wrk (Lua
   scripts in bench/lua) or, for the browser login, from bench/login_load.py. Around each
   measured run we read utime+stime of the uvicorn master and its workers from /proc (server CPU)
   and of the PostgreSQL backends serving the bench database (DB CPU), and sample each
   worker's RSS every 0.2 s;
5. unless ``--no-full``: copy the database, grow the copy to 1,000,000 citizens in SQL, measure
   the login on both databases alternately (A/B/A/B, restarting the server each time) and the
   admin people search (bench/search.py) on the big one;
6. with ``--profile``: one more run per scenario with py-spy attached to a worker, and an
   in-process count of the SQL statements each kind of request issues (bench/out/<stamp>/).

Everything is bounded: each load run by its duration, each subprocess by a timeout, the
whole run by ``--budget-minutes`` (scenarios that would start after it are skipped).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import templates
from procfs import RssSampler, cmdline, cpu_seconds, descendants
from report import (
    PASSWORD,
    README,
    SEARCH_P99_TARGET_MS,
    SEARCH_TARGET_MS,
    Run,
    Scenario,
    append_readme,
    calibrate,
    table,
)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LUA = BENCH / "lua"
BIN = Path(sys.executable).parent
# Never followed (the load reads the Location header): https, as a web client must register
# outside SSO_ENV=dev (sso.oauth.redirect_uris); .invalid never resolves.
REDIRECT_URI = "https://rp.bench.invalid/callback"
PERSON_SCOPE = "openid profile email offline_access"
USER_FORMAT = "citizen%07d"
BASE_USERS = 1_000
FULL_USERS = 1_000_000
# What the seeded rows depend on besides the database (kept with a template, see templates.py).
SEEDED_ENV = ("SSO_SECRET_KEY", "SSO_KEY_ENCRYPTION_KEY", "SSO_ADMIN_PASSWORD")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------- the bench


@dataclass
class Clients:
    cc: list[tuple[str, str]]
    rp: tuple[str, str]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.monotonic()
        self.stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out = BENCH / "out" / self.stamp
        self.out.mkdir(parents=True, exist_ok=True)
        self.port = args.port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.admin_url = args.postgres
        self.host_part = args.postgres.split("://", 1)[1].rsplit("/", 1)[0]
        self.base_db = f"sso_bench_{self.stamp.replace('-', '_')}_{os.getpid()}"
        self.created: list[str] = []
        self.dbname = self.db_url = self.libpq_url = ""
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SSO_")},
            "SSO_ENV": "test",
            "SSO_SECRET_KEY": secrets.token_urlsafe(48),
            "SSO_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "SSO_REDIS_URL": args.redis,
            "SSO_ISSUER": self.base_url,
            "SSO_LOG_LEVEL": "WARNING",
            "SSO_VAR_DIR": str(self.out / "var"),
            "SSO_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        }
        # The production settings of the README's deployment notes, then --server-env
        # (experiments, e.g. SSO_DEFAULT_SIGNING_ALG=ES256) on top.
        self.server_env = {
            # (argon2 checks are capped machine-wide by default since the third round:
            # `sso serve` gives each worker cores // workers.)
            "MALLOC_ARENA_MAX": "2",  # fewer glibc arenas kept per worker (§6; the image's)
            # The load comes from one address (and a few clients): per-IP and per-client
            # limits so high they never refuse, while their counting still costs what it does.
            "SSO_RATE_LIMIT_IP_PER_MINUTE": "100000000",
            "SSO_RATE_LIMIT_CLIENT_PER_MINUTE": "100000000",
            **dict(kv.split("=", 1) for kv in args.server_env),
        }
        self.template_key = templates.template_key(
            SEED_CITIZENS_SQL,
            BASE_USERS,
            FULL_USERS,
            args.cc_clients,
            REDIRECT_URI,
            PERSON_SCOPE,
            USER_FORMAT,
            PASSWORD,
        )
        self.seeding: list[str] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[int] = []
        self.use_database(self.base_db)
        self.scenarios: list[Scenario] = []
        self.clients: Clients | None = None
        self.users = 0
        self.calibration: list[dict[str, float]] = []

    # ------------------------------------------------------------------ plumbing
    def elapsed_min(self) -> float:
        return (time.monotonic() - self.started) / 60

    def sso(self, *argv: str, stdin: str | None = None, timeout: float = 120) -> str:
        proc = subprocess.run(
            [str(BIN / "sso"), *argv],
            input=stdin,
            env=self.env,
            cwd=self.out,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise SystemExit(f"sso {' '.join(argv)} failed:\n{proc.stderr}{proc.stdout}")
        return proc.stdout

    @contextmanager
    def admin_db(self) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            yield conn

    @contextmanager
    def bench_db(self) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.libpq_url, autocommit=True, connect_timeout=10) as conn:
            yield conn

    def use_database(self, name: str) -> None:
        """Point the CLI, the server (on its next start) and the measurements at ``name``."""
        self.dbname = name
        self.db_url = f"postgresql+psycopg://{self.host_part}/{name}"
        self.libpq_url = f"postgresql://{self.host_part}/{name}"
        self.env["SSO_DATABASE_URL"] = self.db_url

    # ------------------------------------------------------------------ setup
    def ensure_wrk(self) -> None:
        if shutil.which("wrk"):
            return
        log("wrk is missing: installing the Debian package")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
            subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)

    def create_database(self, name: str, template: str | None = None) -> None:
        """A new database (a copy of ``template`` when given: nothing may be connected to it)."""
        copy = f' TEMPLATE "{template}"' if template else ""
        for attempt in range(10):
            try:
                with self.admin_db() as conn:
                    conn.execute(f'CREATE DATABASE "{name}"{copy}')
                break
            except psycopg.errors.ObjectInUse:  # the server's connections are still closing
                if attempt == 9:
                    raise
                time.sleep(1)
        self.created.append(name)
        log(f"database {name} created" + (f" as a copy of {template}" if template else ""))

    def drop_database(self) -> None:
        if self.args.keep_db:
            return
        for name in self.created:
            try:
                with self.admin_db() as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                log(f"database {name} dropped")
            except psycopg.Error as exc:
                log(f"could not drop {name}: {exc}")

    def prepare_base(self) -> None:
        """The 1,000-citizen database: a copy of the template of an earlier run when the
        migrations and the seeding are unchanged (templates.py), else seeded now and kept."""
        t0 = time.monotonic()
        with self.admin_db() as conn:
            for db in templates.drop_stale(conn, self.template_key):
                log(f"dropped the stale template {db}")
            have = templates.existing(conn)
        tpl = templates.name(self.template_key, "base")
        values = templates.load_values(self.template_key)
        if values and tpl in have and not self.args.fresh_seed:
            self.create_database(self.base_db, template=tpl)
            self.env.update(values["env"])
            self.clients = Clients(cc=[(c, s) for c, s in values["cc"]], rp=tuple(values["rp"]))
            self.users = int(values["users"])
            self.sso("db", "upgrade")  # nothing to do: the key covers every migration
            self.seeding.append(
                f"{self.users:,} citizens: copy of template `{tpl}` ({time.monotonic() - t0:.0f} s)"
            )
            return
        with self.admin_db() as conn:
            for db in templates.drop_key(conn, self.template_key):
                log(f"dropped the template {db} (seeded with other secrets)")
        self.create_database(self.base_db)
        self.seed_base()
        assert self.clients is not None
        with self.admin_db() as conn:
            templates.make(conn, self.base_db, tpl)
        templates.save_values(
            self.template_key,
            {
                "env": {k: self.env[k] for k in SEEDED_ENV},
                "cc": self.clients.cc,
                "rp": self.clients.rp,
                "users": self.users,
            },
        )
        self.seeding.append(
            f"{self.users:,} citizens: seeded ({time.monotonic() - t0:.0f} s,"
            f" kept as template `{tpl}`)"
        )

    def prepare_big(self, big: str) -> None:
        """The 1,000,000-citizen database: from its template, or the 1,000-citizen template
        grown in SQL and then kept as a template too."""
        t0 = time.monotonic()
        tpl = templates.name(self.template_key, "1m")
        with self.admin_db() as conn:
            have = templates.existing(conn)
        if tpl in have and not self.args.fresh_seed:
            self.create_database(big, template=tpl)
            self.use_database(big)
            self.users = FULL_USERS
            self.seeding.append(
                f"{FULL_USERS:,} citizens: copy of template `{tpl}` ({time.monotonic() - t0:.0f} s)"
            )
            return
        self.create_database(big, template=templates.name(self.template_key, "base"))
        self.use_database(big)
        log(f"seeding {FULL_USERS:,} citizens")
        self.add_citizens(FULL_USERS)
        with self.admin_db() as conn:
            templates.make(conn, big, tpl)
        self.seeding.append(
            f"{FULL_USERS:,} citizens: seeded ({time.monotonic() - t0:.0f} s,"
            f" kept as template `{tpl}`)"
        )

    def seed_base(self) -> None:
        self.sso("db", "upgrade")
        self.sso("bootstrap")
        jobs: list[list[str]] = []
        for i in range(self.args.cc_clients):
            jobs.append(
                [
                    "clients",
                    "create",
                    "--name",
                    f"bench-service-{i}",
                    "--grant-type",
                    "client_credentials",
                    "--scope",
                    "api",
                    "--json",
                ]
            )
        jobs.append(
            [
                "clients",
                "create",
                "--name",
                "bench-portal",
                "--redirect-uri",
                REDIRECT_URI,
                "--grant-type",
                "authorization_code",
                "--grant-type",
                "refresh_token",
                "--scope",
                PERSON_SCOPE,
                "--trusted",
                "--json",
            ]
        )
        results: list[str] = [""] * len(jobs)

        def one(i: int) -> None:
            results[i] = self.sso(*jobs[i])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        made = [json.loads(r.strip().splitlines()[-1]) for r in results]
        self.clients = Clients(
            cc=[(m["client_id"], m["client_secret"]) for m in made[:-1]],
            rp=(made[-1]["client_id"], made[-1]["client_secret"]),
        )
        self.sso(
            "users",
            "create",
            "--username",
            USER_FORMAT % 1,
            "--email",
            f"{USER_FORMAT % 1}@warga.example.id",
            "--kind",
            "citizen",
            "--name",
            "Adi Saputra",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        self.add_citizens(BASE_USERS)

    def add_citizens(self, total: int) -> None:
        """Citizens ``USER_FORMAT % 2 … % total`` straight into the tables (bench-only SQL),
        with the argon2id hash the provider made for citizen 1 (same password)."""
        first = self.users + 1 if self.users else 2
        if total < first:
            return
        t0 = time.monotonic()
        with self.bench_db() as conn:
            row = conn.execute(
                "SELECT p.password_hash FROM password_credentials p JOIN users u ON u.id = p.user_id"
                " WHERE u.username_normalized = %s",
                (USER_FORMAT % 1,),
            ).fetchone()
            assert row is not None, "citizen 1 has no password"
            # A large load goes in without the secondary indexes, which are then rebuilt from
            # their own definitions (pg_get_indexdef): one sort per index instead of a million
            # random b-tree inserts. Same indexes afterwards, built in a fraction of the time.
            rebuild: list[tuple[str, str]] = []
            if total - first > 100_000:
                rebuild = [(r[0], r[1]) for r in conn.execute(SECONDARY_INDEXES_SQL)]
                for index, _ in rebuild:
                    conn.execute(f"DROP INDEX {index}")
            step = 250_000
            for lo in range(first, total + 1, step):
                hi = min(total, lo + step - 1)
                conn.execute(SEED_CITIZENS_SQL, {"lo": lo, "hi": hi, "hash": row[0]})
            if rebuild:
                conn.execute("SET maintenance_work_mem = '256MB'")
                for _, definition in rebuild:
                    conn.execute(definition)
            conn.execute("ANALYZE users")
            conn.execute("ANALYZE password_credentials")
        self.users = total
        log(f"{total:,} citizens in the database ({time.monotonic() - t0:.1f} s of seeding)")

    def start_server(self) -> None:
        workers = self.args.workers or os.cpu_count() or 1
        cmd = [
            str(BIN / "sso"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        log(f"starting: {' '.join(cmd[1:])}")
        logfile = open(self.out / "server.log", "ab")  # noqa: SIM115 (kept for the run)
        self.server = subprocess.Popen(
            cmd,
            env={**self.env, **self.server_env},
            cwd=self.out,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        upgrades = 0
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise SystemExit(f"server exited; see {self.out / 'server.log'}")
            try:
                ready = httpx.get(self.base_url + "/readyz", timeout=2)
                if ready.status_code == 200:
                    break
                # Someone added a migration to the work tree since `sso db upgrade` ran.
                if "not migrated" in ready.text and upgrades < 3:
                    upgrades += 1
                    log("the server wants a newer schema: sso db upgrade again")
                    self.sso("db", "upgrade")
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("server not ready after 90 s")
        for _ in range(40):  # the workers answer /readyz before all of them are up
            self.workers = [p for p in descendants(self.server.pid) if "spawn_main" in cmdline(p)]
            if len(self.workers) >= workers:
                break
            time.sleep(0.25)
        log(f"server ready: master {self.server.pid}, workers {self.workers}")

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        try:
            os.killpg(self.server.pid, signal.SIGTERM)
            self.server.wait(timeout=30)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            with suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGKILL)

    # ------------------------------------------------------------------ measuring
    def server_cpu(self) -> float:
        assert self.server is not None
        pids = [self.server.pid, *descendants(self.server.pid)]
        return sum(c for c in map(cpu_seconds, pids) if c is not None)

    def db_backends(self) -> dict[int, float]:
        with self.admin_db() as conn:
            pids = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.dbname,),
                )
            ]
        return {p: c for p in pids if (c := cpu_seconds(p)) is not None}

    def measure(
        self, drive: Callable[[Callable[[], None], Callable[[], None]], dict[str, Any]]
    ) -> Run:
        """Run ``drive(start, stop)``; CPU is read when it calls start() and stop()."""
        marks: dict[str, Any] = {}

        def start() -> None:
            marks["db0"] = self.db_backends()
            marks["cpu0"] = self.server_cpu()

        def stop() -> None:
            marks["cpu1"] = self.server_cpu()
            marks["db1"] = self.db_backends()

        with RssSampler(self.workers) as rss:
            summary = drive(start, stop)
        db0, db1 = marks["db0"], marks["db1"]
        db_cpu = sum(c - db0.get(p, 0.0) for p, c in db1.items())
        return Run(
            requests=int(summary["requests"]),
            seconds=summary["duration_us"] / 1e6,
            errors=int(summary["non2xx"])
            + int(summary["socket_errors"])
            + int(summary["timeouts"]),
            p50_ms=summary["p50_us"] / 1000,
            p90_ms=summary["p90_us"] / 1000,
            p99_ms=summary["p99_us"] / 1000,
            server_cpu_s=marks["cpu1"] - marks["cpu0"],
            db_cpu_s=db_cpu,
            rss_peak_mb=max(rss.peak.values(), default=0.0),
            codes=summary.get("codes", {}),
            extra={
                k: v
                for k, v in summary.items()
                if k in ("steps_p50_ms", "starved", "http_requests")
            },
        )

    def wrk(
        self,
        script: str,
        path: str,
        duration: float,
        env: dict[str, str],
        connections: int | None = None,
    ) -> Callable[..., dict[str, Any]]:
        threads = self.args.threads
        conns = connections or self.args.connections
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{conns}",
            f"-d{duration:.0f}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA / script),
            self.base_url + path,
        ]
        full_env = {**os.environ, "BENCH_LUA_DIR": str(LUA), "BENCH_THREADS": str(threads), **env}

        def drive(
            start: Callable[[], None] | None = None, stop: Callable[[], None] | None = None
        ) -> dict[str, Any]:
            if start:
                start()
            proc = subprocess.run(
                cmd, env=full_env, capture_output=True, text=True, timeout=duration + 60
            )
            if stop:
                stop()
            for line in proc.stdout.splitlines():
                if line.startswith("BENCH_JSON "):
                    return dict(json.loads(line[len("BENCH_JSON ") :]))
            raise RuntimeError(f"wrk gave no summary:\n{proc.stdout}\n{proc.stderr}")

        return drive

    def login_driver(
        self, duration: float, warmup: float, users: int
    ) -> Callable[..., dict[str, Any]]:
        assert self.clients is not None
        cmd = [
            sys.executable,
            str(BENCH / "login_load.py"),
            "load",
            *self.login_args(users),
            "--workers",
            str(self.args.login_workers),
            "--duration",
            str(duration),
            "--warmup",
            str(warmup),
        ]

        def drive(
            start: Callable[[], None] | None = None, stop: Callable[[], None] | None = None
        ) -> dict[str, Any]:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            summary: dict[str, Any] | None = None
            timer = threading.Timer(duration + warmup + 120, proc.kill)
            timer.start()
            try:
                for line in proc.stdout:
                    if line.startswith("START") and start:
                        start()
                    elif line.startswith("END") and stop:
                        stop()
                    elif line.startswith("BENCH_JSON "):
                        summary = json.loads(line[len("BENCH_JSON ") :])
                proc.wait()
            finally:
                timer.cancel()
            if summary is None:
                raise RuntimeError("login_load.py gave no summary")
            return summary

        return drive

    def login_args(self, users: int) -> list[str]:
        assert self.clients is not None
        return [
            "--base-url",
            self.base_url,
            "--client-id",
            self.clients.rp[0],
            "--client-secret",
            self.clients.rp[1],
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            PERSON_SCOPE,
            "--password",
            PASSWORD,
            "--user-format",
            USER_FORMAT,
            "--user-count",
            str(users),
        ]

    def person_tokens(self, count: int) -> list[dict[str, str]]:
        """``count`` token responses from real logins (access and refresh tokens)."""
        proc = subprocess.run(
            [
                sys.executable,
                str(BENCH / "login_load.py"),
                "seed",
                *self.login_args(self.users),
                "--count",
                str(count),
                "--workers",
                "4",
            ],
            capture_output=True,
            text=True,
            timeout=60 + count,
        )
        tokens = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        if len(tokens) < count:
            raise RuntimeError(f"only {len(tokens)} of {count} logins worked: {proc.stderr}")
        return tokens

    # ------------------------------------------------------------------ scenarios
    def over_budget(self, s: Scenario) -> bool:
        if self.elapsed_min() > self.args.budget_minutes:
            s.note = f"skipped: past the {self.args.budget_minutes} min budget"
            log(s.note)
            return True
        return False

    def repeat(
        self,
        s: Scenario,
        make: Callable[[int], Callable[..., dict[str, Any]]],
        warm: Callable[[], object] | None = None,
    ) -> None:
        """Warm-up (``make(-1)`` or ``warm``), then the measured runs ``make(0..)``."""
        self.scenarios.append(s)
        if self.over_budget(s):
            return
        (warm or make(-1))()
        for i in range(self.args.repeats):
            run = self.measure(make(i))
            s.runs.append(run)
            log(
                f"{s.name} #{i + 1}: {run.rate:,.0f}/s, p50 {run.p50_ms:.1f} ms, "
                f"p99 {run.p99_ms:.1f} ms, errors {run.errors} {run.codes or ''}, "
                f"server CPU {run.server_cpu_s:.1f} s -> {run.per_cpu:,.0f} per CPU-s, "
                f"DB CPU {run.db_cpu_s:.1f} s, RSS {run.rss_peak_mb:.0f} MB"
            )
        if self.args.profile:
            self.profile(s.name, make(99))

    def scenario_get(self, name: str, title: str, path: str) -> None:
        d, w = self.args.duration, self.args.warmup
        self.repeat(
            Scenario(name, title, "requests"),
            lambda i: self.wrk("get.lua", path, w if i < 0 else d, {}),
        )

    def scenario_client_credentials(self) -> None:
        assert self.clients is not None
        creds = self.out / "cc-basic.txt"
        creds.write_text("\n".join(basic(c, s) for c, s in self.clients.cc) + "\n")
        d, w = self.args.duration, self.args.warmup
        self.repeat(
            Scenario("client_credentials", "client_credentials token", "tokens"),
            lambda i: self.wrk(
                "client_credentials.lua", "/token", w if i < 0 else d, {"BENCH_INPUT": str(creds)}
            ),
        )

    def scenario_token_half_rate(self) -> None:
        cc = next((s for s in self.scenarios if s.name == "client_credentials" and s.runs), None)
        s = Scenario("token_p99_half", "client_credentials at ½ max rate", "tokens")
        if cc is None:
            s.note = "needs client_credentials"
            self.scenarios.append(s)
            return
        rate = max(r.rate for r in cc.runs) / 2
        s.title = f"client_credentials at ½ max rate ({rate:,.0f}/s offered)"
        creds = self.out / "cc-basic.txt"
        d, w = self.args.duration, self.args.warmup
        self.repeat(
            s,
            lambda i: self.wrk(
                "client_credentials.lua",
                "/token",
                w if i < 0 else d,
                {"BENCH_INPUT": str(creds), "BENCH_RATE": f"{rate:.1f}"},
            ),
        )

    def scenario_refresh(self) -> None:
        assert self.clients is not None
        threads, conns = self.args.threads, self.args.connections
        per_thread = conns // threads + 4  # one chain per connection, a few spares
        runs = 1 + self.args.repeats + (1 if self.args.profile else 0)
        s = Scenario("refresh_token", "refresh_token (rotation, new ID token)", "tokens")
        if self.over_budget(s):
            self.scenarios.append(s)
            return
        tokens = [t["refresh_token"] for t in self.person_tokens(per_thread * threads * runs)]
        files: list[Path] = []
        for r in range(runs):
            base = self.out / f"refresh-{r}"
            for t in range(threads):
                chunk = tokens[(r * threads + t) * per_thread : (r * threads + t + 1) * per_thread]
                Path(f"{base}.{t}").write_text("\n".join(chunk) + "\n")
            files.append(base)
        d, w = self.args.duration, self.args.warmup
        env = {"BENCH_BASIC": basic(*self.clients.rp)}
        run_file = {-1: files[0], 99: files[-1]}
        self.repeat(
            s,
            lambda i: self.wrk(
                "refresh_token.lua",
                "/token",
                w if i < 0 else d,
                {**env, "BENCH_INPUT": str(run_file.get(i, files[min(i + 1, runs - 1)]))},
            ),
        )

    def access_tokens(self) -> Path:
        path = self.out / "access-tokens.txt"
        if not path.exists() or time.time() - path.stat().st_mtime > 240:
            tokens = self.person_tokens(self.args.token_pool)
            path.write_text("\n".join(t["access_token"] for t in tokens) + "\n")
        return path

    def scenario_introspect(self) -> None:
        assert self.clients is not None
        s = Scenario("introspect", "/introspect (access token)", "requests")
        if self.over_budget(s):
            self.scenarios.append(s)
            return
        path = self.access_tokens()
        d, w = self.args.duration, self.args.warmup
        env = {"BENCH_BASIC": basic(*self.clients.rp), "BENCH_INPUT": str(path)}
        self.repeat(s, lambda i: self.wrk("introspect.lua", "/introspect", w if i < 0 else d, env))

    def scenario_userinfo(self) -> None:
        s = Scenario("userinfo", "/userinfo", "requests")
        if self.over_budget(s):
            self.scenarios.append(s)
            return
        path = self.access_tokens()
        d, w = self.args.duration, self.args.warmup
        self.repeat(
            s,
            lambda i: self.wrk(
                "userinfo.lua", "/userinfo", w if i < 0 else d, {"BENCH_INPUT": str(path)}
            ),
        )

    def scenario_login(self, name: str, title: str) -> None:
        d, w = self.args.login_duration, self.args.warmup
        users = self.users
        s = Scenario(name, title, "logins")
        self.repeat(
            s, lambda i: self.login_driver(d, w if i < 0 else 1.0, users), warm=lambda: None
        )  # login_load.py warms up inside each run

    def scenario_search(self) -> None:
        s = Scenario("admin_search", "admin people search (SQL, 1M citizens)", "queries")
        self.scenarios.append(s)
        if self.over_budget(s):
            return
        proc = subprocess.run(
            [
                sys.executable,
                str(BENCH / "search.py"),
                "--database-url",
                self.db_url,
                "--queries",
                str(self.args.search_queries),
                "--out",
                str(self.out),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            env=self.env,
        )
        if proc.returncode != 0:
            s.note = "failed"
            log(f"search.py failed:\n{proc.stderr}")
            return
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        (self.out / "search.json").write_text(json.dumps(result, indent=2))
        for variant in result["variants"]:
            row = Scenario(f"admin_search:{variant['name']}", variant["title"], "queries")
            timeouts = variant["timeouts"]
            row.fixed = {
                "p50": f"{variant['p50_ms']:.1f}",
                "p90": f"{variant['p90_ms']:.1f}",
                "p99": f"{variant['p99_ms']:.1f}",
                "rate": "–",
                "errors": (
                    f"{timeouts} of {variant['queries']} timed out (3 s)" if timeouts else "0"
                ),
            }
            met = (
                variant["p50_ms"] <= SEARCH_TARGET_MS
                and variant["p99_ms"] <= SEARCH_P99_TARGET_MS
                and not timeouts
            )
            row.verdict = (
                ("met" if met else "**missed**") + f" (p50 ≤ {SEARCH_TARGET_MS:.0f} ms, p99 ≤ "
                f"{SEARCH_P99_TARGET_MS:.0f} ms); {variant['plan']}"
            )
            self.scenarios.append(row)
        self.scenarios.remove(s)
        log(
            "admin search: "
            + ", ".join(f"{v['name']} p50 {v['p50_ms']:.1f} ms" for v in result["variants"])
        )

    # ------------------------------------------------------------------ profiling
    def profile(self, name: str, drive: Callable[..., dict[str, Any]]) -> None:
        """One more (unmeasured) run with py-spy on the first worker."""
        pyspy = ensure_py_spy()
        if pyspy is None or not self.workers:
            return
        raw = self.out / f"profile-{name}.raw"
        seconds = max(
            3, int(self.args.login_duration if "login" in name else self.args.duration) - 2
        )
        cmd = [
            pyspy,
            "record",
            "--pid",
            str(self.workers[0]),
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
        ]
        if self.args.profile_gil:
            cmd.append("--gil")
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            drive()
        finally:
            try:
                spy.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
        if raw.exists():
            from profile_summary import summarize  # bench/ is on sys.path (script dir)

            text = summarize(raw.read_text().splitlines())
            (self.out / f"profile-{name}.txt").write_text(text)
            log(f"profile of {name}: {self.out / f'profile-{name}.txt'}")

    def count_statements(self) -> None:
        """SQL statements per request of each kind (in-process, see bench/sqlcount.py)."""
        assert self.clients is not None
        tokens = self.person_tokens(3)
        spec = {
            "cc": basic(*self.clients.cc[0]),
            "rp": basic(*self.clients.rp),
            "rp_id": self.clients.rp[0],
            "rp_secret": self.clients.rp[1],
            "refresh": [t["refresh_token"] for t in tokens],
            "access": tokens[0]["access_token"],
            "username": USER_FORMAT % 7,
            "password": PASSWORD,
            "redirect_uri": REDIRECT_URI,
            "scope": PERSON_SCOPE,
        }
        # For bench/inprocess.py (A/B of a change against this database, with --keep-db).
        private = os.open(self.out / "inprocess.json", os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(private, "w") as fh:
            env = {**self.env, **self.server_env, "SSO_DATABASE_URL": self.db_url}
            json.dump({**spec, "env": {k: v for k, v in env.items() if k.startswith("SSO_")}}, fh)
        proc = subprocess.run(
            [sys.executable, str(BENCH / "sqlcount.py")],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=300,
            env=self.env,
            cwd=self.out,
        )
        (self.out / "sqlcount.txt").write_text(proc.stdout + proc.stderr)
        log(f"SQL statements per request: {self.out / 'sqlcount.txt'}")

    # ------------------------------------------------------------------ the whole run
    def run(self) -> None:
        only = set(self.args.only.split(",")) if self.args.only else None

        def wanted(name: str) -> bool:
            return only is None or name in only

        self.ensure_wrk()
        self.calibration.append(calibrate())
        log(
            "calibration: argon2id check {argon2id_ms:.1f} ms CPU, RS256 signature "
            "{rs256_ms:.2f} ms CPU".format(**self.calibration[-1])
        )
        self.prepare_base()
        self.start_server()
        if wanted("discovery"):
            self.scenario_get(
                "discovery",
                "/.well-known/openid-configuration",
                "/.well-known/openid-configuration",
            )
        if wanted("jwks"):
            self.scenario_get("jwks", "/jwks.json", "/jwks.json")
        if wanted("client_credentials"):
            self.scenario_client_credentials()
        if wanted("token_p99_half"):
            self.scenario_token_half_rate()
        if wanted("refresh_token"):
            self.scenario_refresh()
        if wanted("introspect"):
            self.scenario_introspect()
        if wanted("userinfo"):
            self.scenario_userinfo()
        if wanted("login"):
            self.scenario_login("login", f"login, {self.users:,} citizens (argon2id)")
        if self.args.profile:
            self.count_statements()
        if self.args.full and (wanted("login_1m") or wanted("admin_search")):
            if self.elapsed_min() > self.args.budget_minutes - 4:
                log("no time left for the 1,000,000-citizen scenarios")
                return
            self.full_scenarios(wanted("login_1m"), wanted("admin_search"))

    def full_scenarios(self, login: bool, search: bool) -> None:
        """The 1,000,000-citizen database is a copy of the 1,000-citizen one (same clients,
        keys and secrets) grown in SQL. The two logins are measured A/B/A/B, restarting the
        server on the other database each time, so a neighbour's load that drifts over the
        minutes hits both alike."""
        self.stop_server()
        small, big = self.base_db, self.base_db + "_1m"
        small_users = self.users
        self.prepare_big(big)
        if login:
            d, w = self.args.login_duration, self.args.warmup
            pairs = [
                (
                    small,
                    small_users,
                    Scenario(
                        "login_ab",
                        f"login, {small_users:,} citizens, A/B with the next row",
                        "logins",
                    ),
                ),
                (
                    big,
                    FULL_USERS,
                    Scenario(
                        "login_1m",
                        f"login, {FULL_USERS:,} citizens, A/B with the row above",
                        "logins",
                    ),
                ),
            ]
            self.scenarios += [p[2] for p in pairs]
            for _ in range(self.args.repeats):
                for db, users, s in pairs:
                    if self.over_budget(s):
                        break
                    self.use_database(db)
                    self.start_server()
                    run = self.measure(self.login_driver(d, w, users))
                    s.runs.append(run)
                    log(
                        f"{s.name} ({users:,} citizens): {run.rate:,.1f}/s, p50 "
                        f"{run.p50_ms:.0f} ms, {run.per_cpu:.1f} per CPU-s, RSS "
                        f"{run.rss_peak_mb:.0f} MB"
                    )
                    self.stop_server()
        self.use_database(big)
        if search:
            self.scenario_search()

    def report(self) -> str:
        cpu = "?"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem = "?"
        try:
            kb = int(Path("/proc/meminfo").read_text().split()[1])
            mem = f"{kb / 1024 / 1024:.0f} GiB"
        except (OSError, ValueError, IndexError):
            pass
        pg = "?"
        try:
            with self.admin_db() as conn:
                row = conn.execute("SHOW server_version").fetchone()
                pg = row[0] if row else "?"
        except psycopg.Error:
            pass
        commit = (
            subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            or "?"
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "sso"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        command = os.environ.get("BENCH_COMMAND") or "python bench/run.py " + " ".join(sys.argv[1:])
        workers = self.args.workers or os.cpu_count()
        header = (
            f"### {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} · `{command.strip()}`\n\n"
            f"Machine: {os.cpu_count()} × {cpu}, {mem} RAM, {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}, PostgreSQL {pg}. "
            f"Provider at commit `{commit}`{' (with uncommitted changes in sso/)' if dirty else ''}, "
            f"`sso serve --workers {workers}`"
            f" with {' '.join(f'{k}={v}' for k, v in self.server_env.items())}. "
            f"Load: wrk -t{self.args.threads} "
            f"-c{self.args.connections}, {self.args.warmup:.0f} s warm-up + "
            f"{self.args.repeats} × {self.args.duration:.0f} s per scenario; login: "
            f"{self.args.login_workers} browsers (login_load.py), "
            f"{self.args.repeats} × {self.args.login_duration:.0f} s. Median of the runs, "
            f"range in brackets when the runs differ by more than 10 %.\n\n"
        )
        if self.seeding:
            header += "Databases: " + "; ".join(self.seeding) + ".\n\n"
        if self.calibration:
            cal = self.calibration
            header += (
                "CPU speed during the run (bench process, start → end): one argon2id check "
                + " → ".join(f"{c['argon2id_ms']:.0f}" for c in cal)
                + " ms, one RS256 "
                "signature " + " → ".join(f"{c['rs256_ms']:.2f}" for c in cal) + " ms "
                "(issue 7 quotes about 16 ms for argon2id here; on a quiet machine here `openssl speed rsa2048` signs in 0.25 ms, it said 0.68 ms on the first days)."
                "\n\n"
            )
        return header + table(self.scenarios)

    def save(self) -> None:
        data = [
            {
                **{k: v for k, v in asdict(s).items() if k != "runs"},
                "runs": [{**asdict(r), "rate": r.rate, "per_cpu": r.per_cpu} for r in s.runs],
            }
            for s in self.scenarios
        ]
        (self.out / "results.json").write_text(json.dumps(data, indent=2))


SEED_CITIZENS_SQL = """
WITH given(n) AS (SELECT ARRAY['adi','agus','ahmad','aisyah','andi','anisa','arif','ayu',
    'bambang','bayu','budi','citra','dani','dewi','dian','dimas','eka','endang','fajar','fitri',
    'gilang','hadi','hendra','ika','indah','irfan','joko','kartika','lestari','lukman','maya',
    'muhammad','nanda','nur','putri','rahmat','rina','rizki','sari','siti','sri','taufik',
    'teguh','tri','wahyu','wati','yanti','yogi','yudi','yusuf']),
family(n) AS (SELECT ARRAY['saputra','wijaya','susanto','hidayat','santoso','pratama',
    'kurniawan','setiawan','nugroho','lestari','rahayu','siregar','nasution','hakim','halim',
    'gunawan','purnomo','suryadi','hartono','permana','firmansyah','maulana','ramadhan',
    'syahputra','utami','wulandari','anggraini','hasibuan','simanjuntak','tanjung','harahap',
    'sinaga','lubis','putra','sihombing','kusuma','handoko','prasetyo','budiman','irawan']),
people AS (
    SELECT i, format('citizen%%s', lpad(i::text, 7, '0')) AS login,
           initcap(g.n[1 + (hashint4(i) & 2147483647) %% 50] || ' '
                   || g.n[1 + (hashint4(i + 7919) & 2147483647) %% 50] || ' '
                   || f.n[1 + (hashint4(i + 104729) & 2147483647) %% 40]) AS name
    FROM generate_series(%(lo)s::int, %(hi)s::int) AS i, given g, family f
),
inserted AS (
    INSERT INTO users (id, kind, username, username_normalized, email, email_normalized,
                       email_verified, phone_verified, display_name, display_name_search,
                       search_text, locale, status, created_at, updated_at, version)
    SELECT gen_random_uuid()::text, 'citizen', login, login, login || '@warga.example.id',
           login || '@warga.example.id', true, false, name, lower(name),
           -- search_text_of(name, login, email, None): the names are plain ASCII, so
           -- lower() folds them as the application's fold() does
           lower(name) || ' ' || login || ' ' || login || '@warga.example.id', 'id', 'active',
           now() - (i %% 1000) * interval '1 hour', now(), 1
    FROM people
    RETURNING id
)
INSERT INTO password_credentials (user_id, password_hash, changed_at)
SELECT id, %(hash)s, now() FROM inserted
"""


# Indexes of the seeded tables that back no constraint (primary keys and unique constraints
# stay): safe to drop and rebuild around a bulk load.
SECONDARY_INDEXES_SQL = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid IN ('users'::regclass, 'password_credentials'::regclass)
  AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1
"""


def ensure_py_spy() -> str | None:
    """py-spy from the virtualenv (a dev extra in pyproject.toml), installed there if missing."""
    exe = BIN / "py-spy"
    if exe.exists():
        return str(exe)
    found = shutil.which("py-spy")
    if found:
        return found
    log("installing py-spy into the virtualenv")
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "py-spy"],
            check=True,
            timeout=300,
            capture_output=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        log(f"py-spy unavailable ({exc}); no profile")
        return None
    return str(exe) if exe.exists() else None


def main() -> int:
    ap = argparse.ArgumentParser(description="Tangsel SSO load benchmark (see bench/README.md)")
    ap.add_argument(
        "--full",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="seed 1,000,000 citizens for the login at 1M and the admin search "
        "(about 3 of the 8-10 minutes; --no-full skips them)",
    )
    ap.add_argument("--duration", type=float, default=10, help="seconds per measured wrk run")
    ap.add_argument(
        "--login-duration", type=float, default=15, help="seconds per measured login run"
    )
    ap.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per scenario")
    ap.add_argument("--repeats", type=int, default=2, help="measured runs per scenario")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--connections", type=int, default=16, help="wrk connections")
    ap.add_argument("--login-workers", type=int, default=8, help="concurrent login browsers")
    ap.add_argument("--workers", type=int, default=0, help="server workers (default: cores)")
    ap.add_argument("--cc-clients", type=int, default=4, help="client_credentials clients")
    ap.add_argument(
        "--token-pool",
        type=int,
        default=40,
        help="access tokens (from logins) for /userinfo and /introspect",
    )
    ap.add_argument("--search-queries", type=int, default=200, help="admin search prefixes")
    ap.add_argument(
        "--only",
        default="",
        help=(
            "comma-separated scenario names: discovery, jwks, client_credentials, token_p99_half "
            "(needs client_credentials), refresh_token, introspect, userinfo, login, login_1m, "
            "admin_search"
        ),
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="py-spy each scenario once more and count SQL statements per request",
    )
    ap.add_argument(
        "--profile-gil",
        action="store_true",
        help="py-spy only the thread holding the GIL (Python CPU time)",
    )
    ap.add_argument(
        "--budget-minutes",
        type=float,
        default=13,
        help="skip scenarios that would start after this",
    )
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="libpq URL of a database of a user that may create databases",
    )
    ap.add_argument(
        "--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    ap.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the server process (repeatable)",
    )
    ap.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    ap.add_argument(
        "--fresh-seed",
        action="store_true",
        help="seed again even when templates of an earlier run match (templates.py)",
    )
    ap.add_argument("--no-readme", action="store_true", help="do not append to bench/README.md")
    args = ap.parse_args()
    random.seed()

    bench = Bench(args)
    log(f"output in {bench.out}")
    interrupted = False

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        bench.run()
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted")
    finally:
        bench.stop_server()
        bench.drop_database()
    if bench.calibration:
        bench.calibration.append(calibrate())
    bench.save()
    text = bench.report()
    print("\n" + text)
    if not interrupted and not args.no_readme and any(s.runs or s.fixed for s in bench.scenarios):
        append_readme(text)
        log(f"appended to {README}")
    log(f"done in {bench.elapsed_min():.1f} min")
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
