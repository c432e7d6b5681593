"""Per-client (at /token) and per-IP request limits: the caller over its limit gets 429 with
Retry-After, everyone else is served as before. Callers come from different loopback
addresses (127.0.0.x), which the provider sees as different client IPs."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.resilience.conftest import City, Launch
from tests.resilience.people import RP
from tests.resilience.procs import Provider

PER_CLIENT = 10
PER_IP = 40


def client_from(address: str, base_url: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base_url, transport=transport, timeout=30)


def token(http: httpx.Client, rp: RP, secret: str | None = None) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(rp.client_id, secret or rp.client_secret),
    )


def until_refused(send: Callable[[], httpx.Response], most: int) -> tuple[int, httpx.Response]:
    """Send until the first 429 (at most ``most`` times): (successes before it, the 429)."""
    for ok in range(most):
        r = send()
        if r.status_code == 429:
            return ok, r
        assert r.status_code < 400, r.text
    raise AssertionError(f"no 429 after {most} requests")


def test_client_and_ip_limits_refuse_only_the_caller_over_them(city: City, launch: Launch) -> None:
    provider: Provider = launch(
        "limits",
        rate_limit_client_per_minute=str(PER_CLIENT),
        rate_limit_ip_per_minute=str(PER_IP),
        trusted_proxies="127.0.0.6",
    )
    busy, quiet = city.machines
    with (
        client_from("127.0.0.2", provider.url) as a,
        client_from("127.0.0.3", provider.url) as b,
        client_from("127.0.0.4", provider.url) as c,
        client_from("127.0.0.5", provider.url) as d,
    ):
        # Someone sending the quiet client's id with a wrong secret does not use up its budget
        # (401s are given back; after 10 the secret-guessing lock answers 429 for that IP).
        for _ in range(PER_CLIENT + 2):
            assert token(d, quiet, "wrong-secret").status_code in (401, 429)

        # One client over its limit at /token: 429 with Retry-After ...
        # (a minute boundary in between resets the window: hence "at most 3 windows' worth")
        ok, refused = until_refused(lambda: token(a, busy), 3 * PER_CLIENT)
        assert ok >= 1
        assert refused.json()["error"] == "too_many_requests"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # ... from any address, while another client is served, from the same address too.
        assert token(b, busy).status_code == 429
        assert token(a, quiet).status_code == 200
        assert token(b, quiet).status_code == 200

        # One address over its limit: 429 for it, on any path; other addresses unaffected.
        ok, refused = until_refused(lambda: c.get("/"), 3 * PER_IP)
        assert ok >= 1
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert c.get("/register").status_code == 429
        assert b.get("/").status_code == 200
        assert token(b, quiet).status_code == 200
        # Health and readiness stay reachable for the load balancer, and the public cacheable
        # documents (discovery, JWKS) are not counted: relying parties behind one address
        # keep verifying tokens.
        assert c.get("/readyz").status_code == 200
        assert c.get("/jwks.json").status_code == 200

    # Behind a load balancer (a trusted proxy), the limit applies to the person's address
    # from X-Forwarded-For, not to the balancer that all requests come from.
    with client_from("127.0.0.6", provider.url) as balancer:

        def via(address: str) -> httpx.Response:
            return balancer.get("/", headers={"X-Forwarded-For": address})

        until_refused(lambda: via("203.0.113.9"), 3 * PER_IP)
        assert via("203.0.113.10").status_code == 200
