"""Server CPU and memory per step of a person's login, one step at a time.

Starts ``sso serve --workers 1`` with the settings of a bench database (the ``inprocess.json``
that ``run.py --profile --keep-db`` writes), logs in ``--count`` times in a row (after 5
unmeasured logins) with the five requests of ``login_load.py``, and reads the worker's CPU
(utime + stime from ``/proc``) around each request. Sequential, so each delta is that request's
cost; the clock tick is 10 ms, so the figures are averages over many logins. Also prints the
worker's RSS idle and after 1, 5, 20 and 40 logins.

    .venv/bin/python bench/login_steps.py --spec bench/out/<stamp>/inprocess.json --count 60
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from login_load import CSRF_RE, s256  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parent.parent
USER_FORMAT = "citizen%07d"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    spec = json.loads(Path(args.spec).read_text())
    env = {
        **os.environ,
        **spec["env"],
        "SSO_PASSWORD_CHECK_CONCURRENCY": "1",
        "MALLOC_ARENA_MAX": "2",
    }
    base = env["SSO_ISSUER"]
    port = base.rsplit(":", 1)[1]
    log = open(Path(args.spec).parent / "login_steps-server.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/sso"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        run(server.pid, base, spec, args)
    finally:
        server.terminate()
        server.wait(30)


def run(pid: int, base: str, spec: dict[str, object], args: argparse.Namespace) -> None:
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    def rss() -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
        return 0

    for _ in range(150):
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    print(f"worker RSS idle: {rss()} MB")
    totals: dict[str, float] = {}
    http = httpx.Client(base_url=base)

    def step(name: str, method: str, url: str, **kw: object) -> httpx.Response:
        before = cpu()
        response = http.request(method, url, **kw)  # type: ignore[arg-type]
        time.sleep(0.005)  # let the worker finish its bookkeeping after the response
        totals[name] = totals.get(name, 0.0) + cpu() - before
        return response

    for i in range(args.count + 5):
        if i == 5:
            totals.clear()
        if i in (1, 5, 20, 40):
            print(f"worker RSS after {i} logins: {rss()} MB", flush=True)
        http.cookies.clear()
        verifier = secrets.token_urlsafe(48)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": spec["rp_id"],
                "redirect_uri": spec["redirect_uri"],
                "scope": spec["scope"],
                "state": "s" * 16,
                "nonce": "n" * 16,
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
            }
        )
        r = step("GET /authorize", "GET", f"/authorize?{query}")
        interaction = r.headers["location"]
        r = step("GET /interaction (login page)", "GET", interaction)
        match = CSRF_RE.search(r.text)
        assert match, r.status_code
        r = step(
            "POST /interaction/…/login (argon2id)",
            "POST",
            f"{interaction}/login",
            data={
                "username": USER_FORMAT % random.randint(1, args.users),
                "password": spec["password"],
                "csrf_token": html.unescape(match.group(1)),
            },
        )
        assert r.status_code == 303, r.status_code
        r = step("GET /interaction (resume -> code)", "GET", r.headers["location"])
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        r = step(
            "POST /token (code)",
            "POST",
            "/token",
            auth=(str(spec["rp_id"]), str(spec["rp_secret"])),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": spec["redirect_uri"],
                "code_verifier": verifier,
            },
        )
        assert r.status_code == 200, r.text
    print(f"worker RSS after {args.count + 5} logins: {rss()} MB")
    for name, seconds in totals.items():
        print(f"{name:40s} {seconds / args.count * 1000:6.1f} ms CPU")
    print(f"{'whole login':40s} {sum(totals.values()) / args.count * 1000:6.1f} ms CPU")


if __name__ == "__main__":
    main()
