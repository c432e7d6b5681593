"""SIGTERM: readiness flips to 503 first while requests are still served (so a load balancer
stops sending new ones), then the requests in flight are finished, then the process exits."""

from __future__ import annotations

import asyncio
import signal
import threading

import httpx

from tests.resilience.conftest import PASSWORD, City, Launch
from tests.resilience.people import REDIRECT_URI, csrf_of, s256
from tests.resilience.procs import Provider, wait_until

IN_FLIGHT = 24


async def logins(base_url: str, client_id: str, sent: threading.Event) -> list[int | str]:
    """Open IN_FLIGHT login pages, then submit them all at once; their statuses."""
    limits = httpx.Limits(max_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        interactions = []
        for i in range(IN_FLIGHT):
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
            interactions.append(r.headers["location"])
        csrf = csrf_of((await http.get(interactions[0])).text)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=60, limits=limits, cookies=http.cookies
    ) as fresh:

        async def post(interaction: str) -> int | str:
            try:
                r = await fresh.post(
                    f"{interaction}/login",
                    data={"username": "siti", "password": PASSWORD, "csrf_token": csrf},
                )
                return r.status_code
            except httpx.HTTPError as exc:
                return type(exc).__name__

        tasks = [asyncio.create_task(post(i)) for i in interactions]
        await asyncio.sleep(0.3)  # let them reach the server
        sent.set()
        return list(await asyncio.gather(*tasks))


def test_sigterm_flips_readiness_then_drains(city: City, launch: Launch) -> None:
    provider: Provider = launch(
        "drain",
        shutdown_drain_seconds="2",
        # one check at a time and a long line: the logins are still running when the drain
        # ends and uvicorn stops accepting connections
        password_check_concurrency="1",
        password_check_queue=str(IN_FLIGHT),
        password_check_max_wait="60",
        login_max_failures_account_ip="100000",
        login_max_failures_account="100000",
    )
    sent = threading.Event()
    results: list[int | str] = []
    runner = threading.Thread(
        target=lambda: results.extend(
            asyncio.run(logins(provider.url, city.portal.client_id, sent))
        )
    )
    runner.start()
    try:
        assert sent.wait(120)
        provider.signal(signal.SIGTERM)
        # Readiness flips first: the process still answers, with 503 "draining".
        ready = wait_until(
            lambda: (r := httpx.get(provider.url + "/readyz", timeout=10)).status_code == 503 and r,
            10,
            "/readyz 503 after SIGTERM",
        )
        assert ready.json()["status"] == "draining"
        assert ready.headers["retry-after"]
        # Meanwhile new requests are still served.
        assert httpx.get(provider.url + "/jwks.json", timeout=10).status_code == 200
    finally:
        runner.join(120)
    # Every login that was in flight got its answer.
    assert results == [303] * IN_FLIGHT, results
    assert provider.proc is not None
    code = provider.proc.wait(60)
    assert code in (0, -signal.SIGTERM), code  # uvicorn re-raises the signal after its shutdown
    assert "timeout graceful shutdown exceeded" not in provider.log()
    # Stopped: nothing listens any more.
    try:
        httpx.get(provider.url + "/healthz", timeout=5)
        raise AssertionError("still answering after the shutdown")
    except httpx.ConnectError:
        pass
