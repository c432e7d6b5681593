"""Real processes for the resilience tests: `sso serve` instances, a throwaway PostgreSQL
cluster, a Redis server, and databases on the machine's PostgreSQL. Everything here is stopped
by the fixtures that start it, also when a test fails (process groups, ``finally``)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
# `sso` of this checkout, run by the interpreter running the tests (PYTHONPATH below makes the
# checkout's package win over whatever is installed).
SSO = [sys.executable, "-c", "from sso.cli import main; main()"]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``check()`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError:
            raise
        except Exception as exc:  # not up yet: keep polling
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def base_env(**settings: str) -> dict[str, str]:
    """The environment of a provider process: ours without any SSO_* variable, plus settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSO_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(settings)
    return env


def sso(env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 120) -> str:
    proc = subprocess.run(  # noqa: S603
        [*SSO, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"sso {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


# ----------------------------------------------------------------------------- provider


class Provider:
    """One `sso serve` (uvicorn, its own process group) on a free port of 127.0.0.1."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str, workers: int = 1) -> None:
        self.env = env
        self.port = free_port()
        self.workers = workers
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Provider:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [
                    *SSO,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited ({self.proc.returncode}):\n{self.log()[-3000:]}"
            )
        return httpx.get(self.url + "/readyz", timeout=2).status_code == 200

    def wait_ready(self, timeout: float = 60) -> Provider:
        wait_until(self.ready, timeout, f"{self.name} /readyz")
        return self

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (the server itself when it has one worker)."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        found = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
                cmdline = Path(stat).with_name("cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid and b"spawn_main" in cmdline:
                found.append(int(Path(stat).parent.name))
        return sorted(found)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 40) -> int | None:
        """SIGTERM, then SIGKILL of the whole group if it does not end in ``timeout``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ----------------------------------------------------------------------------- databases


@contextmanager
def database(admin_url: str, name: str, missing_ok: bool = False) -> Iterator[str]:
    """A new database on the server of ``admin_url``; dropped afterwards (``missing_ok``: not
    an error when that server is gone by then). Yields its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    url = (
        f"postgresql+psycopg://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}"
        f":{info.get('port', 5432)}/{name}"
    )
    try:
        yield url
    finally:
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.OperationalError:
            if not missing_ok:
                raise


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        cur = conn.execute(query, params or None)
        return cur.fetchall() if cur.description else []


# ----------------------------------------------------------------------------- PostgreSQL


class PgCluster:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl of the installed server) on its own
    port and socket directory, run as the `postgres` user when we are root."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
        if not bins:
            raise RuntimeError("no PostgreSQL server installed under /usr/lib/postgresql")
        self.bin = Path(bins[-1])
        self.base = Path(tempfile.mkdtemp(prefix="sso-res-pg-"))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = list(args)
        if self.as_root:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)  # noqa: S603
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {proc.stdout}{proc.stderr}")

    def init(self) -> PgCluster:
        self.sock.mkdir()
        if self.as_root:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            timeout=120,
        )
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=100 -c shared_buffers=32MB"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"
        )

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def destroy(self) -> None:
        with suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


# ----------------------------------------------------------------------------- Redis


class RedisServer:
    """A redis-server of our own on a free port (no persistence), stoppable and restartable."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tempfile.gettempdir(),
        ]
        self.proc = subprocess.Popen(  # noqa: S603
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        import redis

        wait_until(lambda: redis.Redis(host="127.0.0.1", port=self.port).ping(), 20, "redis-server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
