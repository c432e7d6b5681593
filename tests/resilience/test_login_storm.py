"""A login storm: 500 password logins at once against one worker. They queue behind the cap on
concurrent argon2 checks in a bounded line; the excess is refused at once with 503 and
Retry-After (never a timeout, never a 500); the worker's memory stays bounded; JWKS,
discovery and token refresh keep answering meanwhile."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import httpx

from tests.resilience.conftest import PASSWORD, City, Launch
from tests.resilience.people import REDIRECT_URI, Browser, csrf_of, refresh, s256
from tests.resilience.procs import Provider, rss_mb

STORM = 500
CAP = 2  # password_check_concurrency
QUEUE = 16  # password_check_queue
# One argon2id check holds a 19 MiB buffer: the cap bounds what hashing can add to a worker.
HASH_MIB = 19


async def storm(
    base_url: str, client_id: str, count: int, opened: threading.Event
) -> list[httpx.Response | str]:
    """Open ``count`` login pages, then submit all of them at once.

    One browser opens them all (the CSRF token belongs to the browser, each login page to its
    own authorization request), so preparing the storm costs one request per login."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, follow_redirects=False, limits=limits
    ) as http:
        gate = asyncio.Semaphore(8)

        async def authorize(i: int) -> str:
            async with gate:
                r = await http.get(
                    "/authorize",
                    params={
                        "response_type": "code",
                        "client_id": client_id,
                        "redirect_uri": REDIRECT_URI,
                        "scope": "openid",
                        "state": f"s{i}",
                        "nonce": f"n{i}",
                        "code_challenge": s256("v" * 50),
                        "code_challenge_method": "S256",
                    },
                )
            assert r.status_code == 303, r.text
            return str(r.headers["location"])

        first = await authorize(0)  # sets the browser's cookies before the others
        interactions = [first, *await asyncio.gather(*(authorize(i) for i in range(1, count)))]
        csrf = csrf_of((await http.get(first)).text)
        opened.set()

    # The storm on new connections (the same browser cookies): a kept-alive connection from
    # above may be closed by the server's keep-alive timeout just as a POST reuses it, which
    # would be a client-side artefact, not an answer of the provider.
    async with httpx.AsyncClient(
        base_url=base_url, timeout=120, follow_redirects=False, limits=limits, cookies=http.cookies
    ) as storm_http:

        async def post(interaction: str) -> httpx.Response | str:
            try:
                return await storm_http.post(
                    f"{interaction}/login",
                    data={"username": "siti", "password": PASSWORD, "csrf_token": csrf},
                )
            except httpx.HTTPError as exc:
                return type(exc).__name__

        return list(await asyncio.gather(*(post(i) for i in interactions)))


def test_login_storm_is_queued_and_shed(city: City, launch: Launch) -> None:
    rp = city.portal
    provider: Provider = launch(
        "storm",
        password_check_concurrency=str(CAP),
        password_check_queue=str(QUEUE),
        # one person logging in 500 times from one address: keep the guessing protection
        # and the per-IP request limit out of this test (they have tests of their own)
        login_max_failures_account_ip="100000",
        login_max_failures_account="100000",
        rate_limit_ip_per_minute="0",
    )
    tokens = Browser(provider.url).login(rp, "siti", PASSWORD)
    (pid,) = provider.worker_pids()
    opened = threading.Event()
    done = threading.Event()
    peak = [0.0]
    cheap: Counter[str] = Counter()
    refresh_token = [tokens["refresh_token"]]

    baseline = [0.0]

    def sample_memory() -> None:
        opened.wait()  # the baseline: after the login pages, before the storm
        baseline[0] = peak[0] = rss_mb(pid)
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            done.wait(0.05)

    def cheap_requests() -> None:
        opened.wait()
        with httpx.Client(base_url=provider.url, timeout=30) as http:
            while not done.is_set():
                for path in ("/jwks.json", "/.well-known/openid-configuration"):
                    cheap[f"{path} {http.get(path).status_code}"] += 1
                r = refresh(provider.url, rp, refresh_token[0])
                cheap[f"refresh {r.status_code}"] += 1
                if r.status_code == 200:
                    refresh_token[0] = r.json()["refresh_token"]

    watchers = [threading.Thread(target=sample_memory), threading.Thread(target=cheap_requests)]
    for t in watchers:
        t.start()
    opened.clear()
    try:
        results = asyncio.run(storm(provider.url, rp.client_id, STORM, opened))
    finally:
        done.set()
        for t in watchers:
            t.join(60)

    statuses = Counter(r.status_code if isinstance(r, httpx.Response) else r for r in results)
    assert set(statuses) <= {303, 503}, statuses  # no timeout, no 500, no dropped connection
    assert statuses[303] > CAP, statuses  # more than the cap got in: they queued
    assert statuses[503] > 0, statuses  # and the excess was shed
    for r in results:
        assert isinstance(r, httpx.Response)
        if r.status_code == 503:
            assert int(r.headers["retry-after"]) > 0
            assert "Traceback" not in r.text
        else:
            assert r.headers["location"].startswith("/interaction/")
    # Memory: what the storm added stays within the hashes the cap lets run, plus headroom
    # for 500 connections and their requests; not one hash buffer per request.
    assert peak[0] - baseline[0] < CAP * HASH_MIB + 120, (baseline, peak)
    # The cheap endpoints answered throughout, and only with success.
    assert cheap, "no cheap request completed during the storm"
    assert all(key.endswith(" 200") for key in cheap), cheap
    assert cheap["refresh 200"] > 0, cheap
    # After the storm the provider logs people in as usual.
    assert Browser(provider.url).login(rp, "siti", PASSWORD)["id_token"]
