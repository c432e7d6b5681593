"""`make bench-peers`: node-oidc-provider and our server under the same wrk load, side by side.

One run: node-oidc-provider (in memory, npm package pinned in package.json) and then our
`sso serve` (one worker, PostgreSQL database ``sso_bench_peers`` made afresh, migrations
applied, rate limits off), each pinned to one core (SERVER_CPU) with wrk on the other
(WRK_CPU). Both answer the same tests; the figure compared is requests per server CPU-second
(utime + stime from /proc), which stays comparable when the machine is shared. Beside ours:
the CPU of the PostgreSQL backends serving the bench database, per request. Also: token p99
at half the maximum rate (client_credentials offered at half of what the saturated run
reached) and the peak RSS of the worker.

The harness in ../../../shared/peers/ is the common yardstick and stays as it is; what this
copy changes: rotating refresh tokens on both sides with one chain per wrk connection, a
userinfo test, the database's CPU, p99 at half rate, and one table with ratios and targets.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))
from procfs import RssSampler, cpu_seconds, descendants  # noqa: E402

BIN = Path(sys.executable).parent
LUA_COMMON = BENCH / "lua"
LUA = HERE / "lua"
REDIRECT_URI = "https://rp.bench.invalid/callback"
PASSWORD = "Bench-peers-Passw0rd!"  # a throwaway loopback-only account
TARGETS = {  # issue 17, ours / node-oidc-provider per server CPU-second
    "discovery": 1.0,
    "jwks": 1.0,
    "client_credentials": 1.0,
    "introspection": 0.5,
    "refresh_token": 0.8,
    "userinfo": 0.5,
}
TESTS = (
    "discovery",
    "jwks",
    "client_credentials",
    "introspection",
    "userinfo",
    "refresh_token",
    "cc_half_rate",
)


def log(message: str) -> None:
    print(f"[bench-peers {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def basic(client_id: str, secret: str) -> str:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Target:
    """One server under test: its process, its endpoints and its credentials."""

    def __init__(self, label: str, proc: subprocess.Popen[bytes], issuer: str) -> None:
        self.label = label
        self.proc = proc
        self.issuer = issuer
        doc = httpx.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
        self.token_ep = doc["token_endpoint"]
        self.introspect_ep = doc["introspection_endpoint"]
        self.userinfo_ep = doc["userinfo_endpoint"]
        self.jwks_ep = doc["jwks_uri"]
        self.cc_basic = self.rt_basic = ""
        self.cc_body = "grant_type=client_credentials"
        self.introspect_token = ""
        self.refresh_tokens: list[str] = []
        self.userinfo_tokens: list[str] = []
        self.db_name: str | None = None
        self.db_admin_url = ""

    def cpu(self) -> float:
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        return sum(c for c in map(cpu_seconds, pids) if c is not None)

    def db_backends(self) -> dict[int, float]:
        if not self.db_name:
            return {}
        with psycopg.connect(self.db_admin_url, autocommit=True) as conn:
            pids = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.db_name,),
                )
            ]
        return {p: c for p in pids if (c := cpu_seconds(p)) is not None}


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = HERE / "out" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, dict[str, dict[str, Any]]] = {}
        # One refresh chain per connection, plus two spares per thread: wrk calls request()
        # once per thread before the run to check the script, which takes a token out. Twice
        # that many are seeded: the warm-up follows chains of its own.
        self.chains = args.connections + 2 * args.threads

    # ------------------------------------------------------------------ wrk
    def wrk(
        self,
        t: Target,
        test: str,
        url: str,
        script: str,
        env: dict[str, str],
        duration: float,
        rate: float | None = None,
    ) -> dict[str, Any]:
        threads = self.args.threads
        cmd = [
            "taskset",
            "-c",
            str(self.args.wrk_cpu),
            "wrk",
            f"-t{threads}",
            f"-c{self.args.connections}",
            f"-d{duration:.0f}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA / script if (LUA / script).exists() else LUA_COMMON / script),
            url,
        ]
        full = {
            **os.environ,
            "BENCH_LUA_DIR": str(LUA_COMMON),
            "BENCH_THREADS": str(threads),
            **env,
        }
        if rate:
            full["BENCH_RATE"] = f"{rate:.1f}"
        db0 = t.db_backends()
        cpu0 = t.cpu()
        spy = None
        if self.args.profile and t.db_name and duration == self.args.duration:
            # py-spy on the other core (sampling costs CPU there, not in the server's figure).
            spy = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    str(self.args.wrk_cpu),
                    str(BIN / "py-spy"),
                    "record",
                    "--gil",
                    "--nonblocking",
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-d",
                    f"{duration:.0f}",
                    "-o",
                    str(self.out / f"profile-{test}.txt"),
                    "-p",
                    str(t.proc.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        with RssSampler([t.proc.pid, *descendants(t.proc.pid)]) as rss:
            proc = subprocess.run(
                cmd, env=full, capture_output=True, text=True, timeout=duration + 60
            )
        if spy:
            spy.wait(timeout=60)
        cpu1 = t.cpu()
        db1 = t.db_backends()
        summary = next(
            (
                json.loads(line[len("BENCH_JSON ") :])
                for line in proc.stdout.splitlines()
                if line.startswith("BENCH_JSON ")
            ),
            None,
        )
        if summary is None:
            raise SystemExit(
                f"wrk gave no summary for {t.label} {test}:\n{proc.stdout}{proc.stderr}"
            )
        cpu = cpu1 - cpu0
        n = int(summary["requests"])
        secs = summary["duration_us"] / 1e6
        return {
            "requests": n,
            "rps": n / secs,
            "cpu_s": cpu,
            "per_cpu": n / cpu if cpu else 0.0,
            "p50_ms": summary["p50_us"] / 1000,
            "p99_ms": summary["p99_us"] / 1000,
            "errors": int(summary["non2xx"])
            + int(summary["socket_errors"])
            + int(summary["timeouts"]),
            "codes": summary.get("codes", {}),
            "db_cpu_ms_per_req": (
                sum(c - db0.get(p, 0.0) for p, c in db1.items()) * 1000 / n
                if t.db_name and n
                else None
            ),
            "rss_mb": max(rss.peak.values(), default=0.0),
        }

    def run_tests(self, t: Target) -> None:
        res: dict[str, dict[str, Any]] = {}
        self.results[t.label] = res
        inputs = self.out / t.label
        inputs.mkdir(exist_ok=True)
        userinfo = inputs / "userinfo.txt"
        userinfo.write_text("\n".join(t.userinfo_tokens) + "\n")
        chains, warm_chains = inputs / "refresh", inputs / "refresh-warm"
        for base, tokens in (
            (chains, t.refresh_tokens[: self.chains]),
            (warm_chains, t.refresh_tokens[self.chains :]),
        ):
            for i in range(self.args.threads):
                Path(f"{base}.{i}").write_text("\n".join(tokens[i :: self.args.threads]) + "\n")
        dur, warm = self.args.duration, self.args.warmup
        plans: dict[str, tuple[str, str, dict[str, str]]] = {
            "discovery": (t.issuer + "/.well-known/openid-configuration", "get.lua", {}),
            "jwks": (t.jwks_ep, "get.lua", {}),
            "client_credentials": (
                t.token_ep,
                "post.lua",
                {"BENCH_BODY": t.cc_body, "BENCH_BASIC": t.cc_basic},
            ),
            "introspection": (
                t.introspect_ep,
                "post.lua",
                {
                    "BENCH_BODY": "token=" + quote(t.introspect_token, safe=""),
                    "BENCH_BASIC": t.cc_basic,
                    "BENCH_EXPECT_ACTIVE": "1",
                },
            ),
            "userinfo": (
                t.userinfo_ep,
                "bearer.lua",
                {"BENCH_INPUT": str(userinfo), "BENCH_PATH": httpx.URL(t.userinfo_ep).path},
            ),
        }
        for test in self.args.tests:
            if test in plans:
                url, script, env = plans[test]
                self.wrk(t, test, url, script, env, warm)  # warm-up, not counted
                res[test] = self.wrk(t, test, url, script, env, dur)
            elif test == "refresh_token":
                # Each token is used once: the warm-up follows chains of its own.
                env = {
                    "BENCH_INPUT": str(warm_chains),
                    "BENCH_BASIC": t.rt_basic,
                    "BENCH_PATH": httpx.URL(t.token_ep).path,
                }
                self.wrk(t, test, t.token_ep, "refresh.lua", env, warm)
                env["BENCH_INPUT"] = str(chains)
                res[test] = self.wrk(t, test, t.token_ep, "refresh.lua", env, dur)
            elif test == "cc_half_rate" and "client_credentials" in res:
                rate = res["client_credentials"]["rps"] / 2
                env = {"BENCH_BODY": t.cc_body, "BENCH_BASIC": t.cc_basic}
                res[test] = self.wrk(t, test, t.token_ep, "post.lua", env, dur, rate=rate)
                res[test]["offered"] = rate
            if test in res:
                r = res[test]
                log(
                    f"{t.label} {test}: {r['rps']:.0f}/s, {r['per_cpu']:.0f} per CPU-s, "
                    f"p99 {r['p99_ms']:.1f} ms, errors {r['errors']} {r['codes'] or ''}"
                )

    # ------------------------------------------------------------------ node-oidc-provider
    def node(self) -> None:
        want = json.loads((HERE / "package.json").read_text())["dependencies"]["oidc-provider"]
        have_file = HERE / "node_modules" / "oidc-provider" / "package.json"
        have = json.loads(have_file.read_text())["version"] if have_file.exists() else None
        if have != want:
            log(f"installing oidc-provider {want} (npm ci)")
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
                cwd=HERE,
                check=True,
                timeout=600,
            )
        port = free_port()
        state = self.out / "node-state.json"
        env = {
            **os.environ,
            "NODE_ENV": "production",
            "STATE_FILE": str(state),
            "CHAINS": str(2 * self.chains),
            "AT_ALG": "RS256",
        }
        logf = open(self.out / "node.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(self.args.server_cpu),
                "node",
                str(HERE / "node-oidc-provider" / "server.mjs"),
                str(port),
            ],
            env=env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not (state.exists() and state.stat().st_size):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"node-oidc-provider did not start: {self.out / 'node.log'}")
                time.sleep(0.1)
            s = json.loads(state.read_text())
            t = Target("node-oidc-provider", proc, s["issuer"])
            t.cc_basic = basic(s["cc_client_id"], s["cc_client_secret"])
            t.cc_body = "grant_type=client_credentials&scope=api%3Aread"
            t.rt_basic = basic(s["web_client_id"], s["web_client_secret"])
            t.introspect_token = s["opaque_access_token"]
            t.refresh_tokens = s["refresh_tokens"]
            t.userinfo_tokens = s["userinfo_tokens"]
            self.version = f"node-oidc-provider {want} on node {subprocess.check_output(['node', '--version'], text=True).strip()}"
            self.run_tests(t)
        finally:
            stop(proc)

    # ------------------------------------------------------------------ ours
    def ours(self) -> None:
        pg = self.args.postgres
        host_part = pg.split("://", 1)[1].rsplit("/", 1)[0]
        db = self.args.database
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db}"')
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_")}
        # This checkout's code, whichever virtualenv runs it.
        env["PYTHONPATH"] = os.pathsep.join(
            [str(BENCH.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env.update(
            {
                "SSO_ENV": "test",
                "SSO_ISSUER": issuer,
                "SSO_LOG_LEVEL": "WARNING",
                "SSO_DATABASE_URL": f"postgresql+psycopg://{host_part}/{db}",
                "SSO_SECRET_KEY": secrets.token_urlsafe(48),
                "SSO_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(
                    secrets.token_bytes(32)
                ).decode(),
                "SSO_ADMIN_PASSWORD": secrets.token_urlsafe(18),
                "SSO_VAR_DIR": str(self.out / "var"),
                # Rate limits off, as the peer has none: one address would otherwise meet the 429.
                "SSO_RATE_LIMIT_IP_PER_MINUTE": "0",
                "SSO_RATE_LIMIT_CLIENT_PER_MINUTE": "0",
                "MALLOC_ARENA_MAX": "2",
            }
        )
        env.update(dict(kv.split("=", 1) for kv in self.args.server_env))

        def sso(*argv: str, stdin: str | None = None) -> str:
            p = subprocess.run(
                [str(BIN / "sso"), *argv],
                env=env,
                input=stdin,
                text=True,
                capture_output=True,
                timeout=120,
                cwd=self.out,
            )
            if p.returncode:
                raise SystemExit(f"sso {' '.join(argv)} failed:\n{p.stderr}{p.stdout}")
            return p.stdout

        sso("db", "upgrade")
        sso("bootstrap")
        cc = json.loads(
            sso(
                "clients",
                "create",
                "--name",
                "bench-cc",
                "--grant-type",
                "client_credentials",
                "--scope",
                "api",
                "--json",
            )
            .strip()
            .splitlines()[-1]
        )
        web = json.loads(
            sso(
                "clients",
                "create",
                "--name",
                "bench-web",
                "--redirect-uri",
                REDIRECT_URI,
                "--grant-type",
                "authorization_code",
                "--grant-type",
                "refresh_token",
                "--scope",
                "openid profile email offline_access",
                "--trusted",
                "--json",
            )
            .strip()
            .splitlines()[-1]
        )
        sso(
            "users",
            "create",
            "--username",
            "citizen0000001",
            "--email",
            "citizen0000001@warga.example.id",
            "--kind",
            "citizen",
            "--name",
            "Adi Saputra",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        logf = open(self.out / "server.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(self.args.server_cpu),
                str(BIN / "sso"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *self.args.serve_args,
            ],
            env=env,
            cwd=self.out,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"sso serve did not start: {self.out / 'server.log'}")
                with suppress(httpx.HTTPError):
                    if httpx.get(issuer + "/readyz", timeout=2).status_code == 200:
                        break
                time.sleep(0.3)
            t = Target("tangsel-sso", proc, issuer)
            t.db_name, t.db_admin_url = db, pg
            t.cc_basic = basic(cc["client_id"], cc["client_secret"])
            t.rt_basic = basic(web["client_id"], web["client_secret"])
            t.introspect_token = httpx.post(
                t.token_ep,
                content=t.cc_body,
                headers={
                    "Authorization": t.cc_basic,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            ).json()["access_token"]
            if {"userinfo", "refresh_token"} & set(self.args.tests):
                seeded = subprocess.run(
                    [
                        sys.executable,
                        str(BENCH / "login_load.py"),
                        "seed",
                        "--base-url",
                        issuer,
                        "--client-id",
                        web["client_id"],
                        "--client-secret",
                        web["client_secret"],
                        "--redirect-uri",
                        REDIRECT_URI,
                        "--scope",
                        "openid profile email offline_access",
                        "--password",
                        PASSWORD,
                        "--user-count",
                        "1",
                        "--count",
                        str(2 * self.chains),
                        "--workers",
                        "4",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                logins = [json.loads(x) for x in seeded.stdout.splitlines() if x.strip()]
                if len(logins) < 2 * self.chains:
                    raise SystemExit(f"seeding logins failed: {seeded.stderr}")
                t.refresh_tokens = [x["refresh_token"] for x in logins]
                t.userinfo_tokens = [x["access_token"] for x in logins]
            if self.args.keep_db:  # what bench/inprocess.py needs, against the kept database
                spare = t.refresh_tokens.pop() if len(t.refresh_tokens) > self.chains else None
                spec = {
                    "env": {k: v for k, v in env.items() if k.startswith("SSO_")},
                    "cc": t.cc_basic,
                    "rp": t.rt_basic,
                    "access": (t.userinfo_tokens or [t.introspect_token])[0],
                    "refresh": [spare] if spare else [],
                }
                (self.out / "inprocess.json").write_text(json.dumps(spec, indent=1))
            self.run_tests(t)
        finally:
            stop(proc)
            if not self.args.keep_db:
                with psycopg.connect(pg, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    # ------------------------------------------------------------------ report
    def table(self) -> str:
        node = self.results.get("node-oidc-provider", {})
        ours = self.results.get("tangsel-sso", {})
        rows = [
            "| test | node-oidc-provider per CPU-s | ours per CPU-s | ours / peer | target | "
            "ours DB CPU ms/req | p99 ms peer / ours | errors peer / ours |",
            "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
        ]
        for test in self.args.tests:
            if test == "cc_half_rate":
                continue
            n, o = node.get(test), ours.get(test)
            ratio = o["per_cpu"] / n["per_cpu"] if n and o and n["per_cpu"] else None
            target = TARGETS.get(test)
            verdict = "met" if ratio is not None and target and ratio >= target else "**missed**"
            rows.append(
                f"| {test} | {n['per_cpu']:,.0f} | {o['per_cpu']:,.0f} | {ratio:.2f}× | "
                f"≥ {target}×: {verdict} | "
                f"{o['db_cpu_ms_per_req']:.3f} | {n['p99_ms']:.1f} / {o['p99_ms']:.1f} | "
                f"{n['errors']} / {o['errors']} |"
                if n and o and ratio is not None
                else f"| {test} | – | – | – | – | – | – | – |"
            )
        extra = []
        for label, res in self.results.items():
            half = res.get("cc_half_rate")
            if half:
                extra.append(
                    f"{label}: client_credentials at half the maximum rate "
                    f"({half['offered']:.0f}/s offered): p99 {half['p99_ms']:.1f} ms"
                    f" (p50 {half['p50_ms']:.1f}), {half['errors']} errors"
                )
            peak = max((r["rss_mb"] for r in res.values()), default=0)
            extra.append(f"{label}: peak RSS {peak:.0f} MB (one process / one worker)")
        return "\n".join(rows) + "\n\n" + "\n".join(f"- {e}" for e in extra) + "\n"

    def header(self) -> str:
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "?",
        )
        load = Path("/proc/loadavg").read_text().split()[:3]
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH.parent,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "sso"],
            cwd=BENCH.parent,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return (
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · `make bench-peers`: "
            f"{getattr(self, 'version', 'node-oidc-provider')} against ours at `{commit}`"
            f"{' (with uncommitted changes in sso/)' if dirty else ''}, `sso serve "
            f"{' '.join(self.args.serve_args)}` on PostgreSQL; each server on CPU "
            f"{self.args.server_cpu}, wrk -t{self.args.threads} -c{self.args.connections} on CPU "
            f"{self.args.wrk_cpu}, {self.args.warmup:.0f} s warm-up + {self.args.duration:.0f} s;"
            f" RS256 both. Machine: {os.cpu_count()} × {model}, load average {' '.join(load)} "
            "at the end.\n"
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    ap.add_argument("--database", default="sso_bench_peers")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--server-cpu", type=int, default=1)
    ap.add_argument("--wrk-cpu", type=int, default=0)
    ap.add_argument("--tests", nargs="+", default=list(TESTS), choices=TESTS)
    ap.add_argument("--only", choices=("node", "ours"), help="measure one side only")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--serve-args", nargs="*", default=["--workers", "1"])
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="py-spy profile of our server per test (out/<stamp>/profile-*.txt)",
    )
    args = ap.parse_args()
    if not shutil.which("wrk"):
        log("installing wrk (apt)")
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=300)
    r = Runner(args)
    if args.only != "ours":
        r.node()
    if args.only != "node":
        r.ours()
    report = (
        r.header()
        + "\n"
        + (r.table() if args.only is None else json.dumps(r.results, indent=1, default=str) + "\n")
    )
    (r.out / "report.md").write_text(report)
    (r.out / "results.json").write_text(json.dumps(r.results, indent=1))
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
