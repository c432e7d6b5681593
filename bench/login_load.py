"""Load generator for the browser login (authorization code flow with PKCE), run as a process
of its own by ``bench/run.py``.

wrk cannot drive this flow: it needs a cookie jar per browser (a response may set several
cookies, and wrk's Lua hands a script one value per header name), an HTML form to read the CSRF
token from, a SHA-256 for PKCE, and five dependent requests in a row. So this is a small httpx
client with one thread per simulated browser. One login is:

1. ``GET /authorize`` (response_type=code, PKCE S256, state, nonce) -> 303 to the interaction
2. ``GET /interaction/{id}`` -> the login page; read ``csrf_token``
3. ``POST /interaction/{id}/login`` with username, password (a real argon2id check) -> 303
4. ``GET /interaction/{id}`` -> 303 to the redirect URI with ``code`` (trusted client: no consent)
5. ``POST /token`` (authorization_code, code_verifier, client_secret_basic) -> tokens + id_token

Each login starts with an empty cookie jar (a new browser); the TCP connection of the thread is
kept, as a browser keeps its connection to the provider.

Modes:
  ``seed`` -- do ``--count`` logins and print one JSON line of tokens per login (used to make
  refresh tokens and access tokens for the other scenarios);
  ``load`` -- warm up, print ``START``, log in for ``--duration`` seconds, print ``END`` and
  then one ``BENCH_JSON {...}`` summary line (the orchestrator samples server CPU at START/END).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import random
import re
import secrets
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

CSRF_RE = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
STEPS = ("authorize", "login_page", "login_post", "resume", "token")


class Failed(Exception):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.kind = f"{step}:{detail}"


@dataclass
class Config:
    base_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str
    password: str
    user_format: str
    user_first: int
    user_count: int


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def login_once(http: httpx.Client, cfg: Config, steps: dict[str, float]) -> dict[str, object]:
    """One complete login in a fresh cookie jar; returns the token response."""
    http.cookies.clear()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)
    username = cfg.user_format % random.randint(cfg.user_first, cfg.user_first + cfg.user_count - 1)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": cfg.client_id,
            "redirect_uri": cfg.redirect_uri,
            "scope": cfg.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
    )

    def timed(step: str, method: str, url: str, **kw: object) -> httpx.Response:
        t0 = time.perf_counter()
        r = http.request(method, url, **kw)  # type: ignore[arg-type]
        steps[step] = time.perf_counter() - t0
        return r

    r = timed("authorize", "GET", f"/authorize?{query}")
    location = r.headers.get("location", "")
    if r.status_code != 303 or not location.startswith("/interaction/"):
        raise Failed("authorize", str(r.status_code))
    interaction = location
    r = timed("login_page", "GET", interaction)
    match = CSRF_RE.search(r.text)
    if r.status_code != 200 or not match:
        raise Failed("login_page", str(r.status_code))
    r = timed(
        "login_post",
        "POST",
        f"{interaction}/login",
        data={
            "username": username,
            "password": cfg.password,
            "csrf_token": html.unescape(match.group(1)),
        },
    )
    if r.status_code != 303:
        raise Failed("login_post", str(r.status_code))
    r = timed("resume", "GET", r.headers["location"])
    location = r.headers.get("location", "")
    if r.status_code != 303 or not location.startswith(cfg.redirect_uri):
        raise Failed("resume", str(r.status_code))
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if params.get("state") != state or "code" not in params:
        raise Failed("resume", "no_code")
    r = timed(
        "token",
        "POST",
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": cfg.redirect_uri,
            "code_verifier": verifier,
        },
        auth=(cfg.client_id, cfg.client_secret),
    )
    if r.status_code != 200:
        raise Failed("token", str(r.status_code))
    body: dict[str, object] = r.json()
    if "id_token" not in body or "access_token" not in body:
        raise Failed("token", "no_id_token")
    return body


def client(cfg: Config) -> httpx.Client:
    return httpx.Client(base_url=cfg.base_url, timeout=30.0, follow_redirects=False)


def seed(cfg: Config, count: int, workers: int) -> int:
    """``count`` logins; one JSON line {access_token, refresh_token} per success on stdout."""
    remaining = iter(range(count))
    lock = threading.Lock()
    out: list[str] = []
    failures: Counter[str] = Counter()

    def run() -> None:
        with client(cfg) as http:
            while True:
                with lock:
                    if next(remaining, None) is None:
                        return
                try:
                    body = login_once(http, cfg, {})
                except (Failed, httpx.HTTPError) as exc:
                    with lock:
                        failures[getattr(exc, "kind", type(exc).__name__)] += 1
                    continue
                line = json.dumps(
                    {
                        "access_token": body["access_token"],
                        "refresh_token": body.get("refresh_token"),
                    }
                )
                with lock:
                    out.append(line)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.stdout.write("\n".join(out) + "\n")
    if failures:
        print(f"seed failures: {dict(failures)}", file=sys.stderr)
    return 0 if out else 1


def load(cfg: Config, workers: int, duration: float, warmup: float) -> int:
    tally = Tally()
    phase = {"measuring": False}
    stop = threading.Event()

    def run() -> None:
        with client(cfg) as http:
            while not stop.is_set():
                steps: dict[str, float] = {}
                measuring = phase["measuring"]
                t0 = time.perf_counter()
                try:
                    login_once(http, cfg, steps)
                    error = None
                except Failed as exc:
                    error = exc.kind
                except httpx.HTTPError as exc:
                    error = f"transport:{type(exc).__name__}"
                elapsed = time.perf_counter() - t0
                # Only logins that started and ended inside the window count.
                if not (measuring and phase["measuring"]):
                    continue
                with tally.lock:
                    tally.requests += len(steps)
                    if error:
                        tally.errors[error] += 1
                    else:
                        tally.latencies.append(elapsed)
                        for name, value in steps.items():
                            tally.steps[name].append(value)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    phase["measuring"] = True
    started = time.perf_counter()
    print("START", flush=True)
    time.sleep(duration)
    phase["measuring"] = False
    elapsed = time.perf_counter() - started
    print("END", flush=True)
    stop.set()
    for t in threads:
        t.join(timeout=60)

    def pct(values: list[float], p: float) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1e6

    lat = tally.latencies
    summary = {
        "requests": len(lat),  # the unit of this scenario is one complete login
        "http_requests": tally.requests,
        "duration_us": int(elapsed * 1e6),
        "non2xx": sum(tally.errors.values()),
        "socket_errors": 0,
        "timeouts": 0,
        "starved": 0,
        "p50_us": pct(lat, 50),
        "p90_us": pct(lat, 90),
        "p99_us": pct(lat, 99),
        "mean_us": (sum(lat) / len(lat) * 1e6) if lat else 0.0,
        "max_us": max(lat) * 1e6 if lat else 0.0,
        "codes": dict(tally.errors),
        "steps_p50_ms": {k: round(pct(v, 50) / 1000, 2) for k, v in tally.steps.items()},
    }
    print("BENCH_JSON " + json.dumps(summary), flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("seed", "load"))
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--redirect-uri", required=True)
    ap.add_argument("--scope", default="openid profile email")
    ap.add_argument("--password", required=True)
    ap.add_argument("--user-format", default="citizen%07d", help="printf format of usernames")
    ap.add_argument("--user-first", type=int, default=1)
    ap.add_argument("--user-count", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=8, help="concurrent browsers (threads)")
    ap.add_argument("--count", type=int, default=10, help="seed: number of logins")
    ap.add_argument("--duration", type=float, default=10.0, help="load: measured seconds")
    ap.add_argument("--warmup", type=float, default=3.0, help="load: unmeasured seconds first")
    args = ap.parse_args()
    cfg = Config(
        args.base_url,
        args.client_id,
        args.client_secret,
        args.redirect_uri,
        args.scope,
        args.password,
        args.user_format,
        args.user_first,
        args.user_count,
    )
    if args.mode == "seed":
        return seed(cfg, args.count, args.workers)
    return load(cfg, args.workers, args.duration, args.warmup)


if __name__ == "__main__":
    sys.exit(main())
