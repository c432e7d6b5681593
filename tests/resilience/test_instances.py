"""Two `sso serve` instances on different ports, one PostgreSQL database and one Redis: any
instance can serve any request (no sticky sessions), and what one does takes effect on the
other."""

from __future__ import annotations

import httpx

from tests.resilience.conftest import ISSUER, PASSWORD, City, Launch
from tests.resilience.people import (
    RP,
    Browser,
    introspect,
    kid_of,
    refresh,
    revoke,
    userinfo,
    verify_id_token,
)
from tests.resilience.procs import Provider, sql, wait_until


def machine_token(base_url: str, client: RP) -> str:
    r = httpx.post(
        base_url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def test_two_instances_behave_as_one_provider(city: City, launch: Launch) -> None:
    rp, machine, siti, budi = city.portal, city.machines[0], "siti", "budi"
    # Started together on a database without signing keys: one key set between them.
    sql(city.database_url, "DELETE FROM signing_keys")
    a: Provider = launch("a", start=False).start()
    b: Provider = launch("b", start=False).start()
    a.wait_ready()
    b.wait_ready()
    rows = sql(
        city.database_url,
        "SELECT alg, state, count(*) FROM signing_keys GROUP BY alg, state ORDER BY 1, 2",
    )
    assert rows == [
        ("ES256", "active", 1),
        ("ES256", "next", 1),
        ("RS256", "active", 1),
        ("RS256", "next", 1),
    ]
    jwks_a = httpx.get(a.url + "/jwks.json").json()
    assert jwks_a == httpx.get(b.url + "/jwks.json").json()
    assert len(jwks_a["keys"]) == 4

    # A login made on A ...
    browser = Browser(a.url)
    tokens = browser.login(rp, siti, PASSWORD)
    claims = verify_id_token(b.url, ISSUER, rp, tokens["id_token"], tokens["nonce"])
    assert claims["sub"]
    # ... is valid on B: its tokens, and its browser session (no second login page).
    assert userinfo(b.url, tokens["access_token"]).json()["sub"] == claims["sub"]
    assert introspect(b.url, rp, tokens["access_token"])["active"] is True
    again = browser.use(b.url).silent_login(rp)
    assert verify_id_token(a.url, ISSUER, rp, again["id_token"])["sub"] == claims["sub"]
    r = refresh(b.url, rp, tokens["refresh_token"])
    assert r.status_code == 200, r.text
    rotated = r.json()

    # A revocation on A takes effect on B.
    revoke(a.url, rp, rotated["refresh_token"])
    r = refresh(b.url, rp, rotated["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    revoke(a.url, rp, rotated["access_token"])
    assert introspect(b.url, rp, rotated["access_token"])["active"] is False

    # Disabling a person (on the command line, i.e. in the database) reaches both.
    budi_browser = Browser(b.url)
    budi_tokens = budi_browser.login(rp, budi, PASSWORD)
    city.sso("users", "disable", budi)
    for server in (a, b):
        assert userinfo(server.url, budi_tokens["access_token"]).status_code == 401
        assert introspect(server.url, rp, budi_tokens["access_token"])["active"] is False
    r = refresh(a.url, rp, budi_tokens["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    start, _req = budi_browser.use(a.url).start(rp)
    assert start.headers["location"].startswith("/interaction/"), "disabled: log in again"

    # A rotated key signs on both within seconds; both publish old and new keys.
    old_kid = kid_of(machine_token(a.url, machine))
    assert kid_of(machine_token(b.url, machine)) == old_kid
    city.sso("keys", "rotate", "--alg", "RS256")
    (new_kid,) = sql(
        city.database_url, "SELECT kid FROM signing_keys WHERE alg = 'RS256' AND state = 'active'"
    )[0]
    assert new_kid != old_kid
    for server in (a, b):
        wait_until(
            lambda s=server: kid_of(machine_token(s.url, machine)) == new_kid,
            30,
            f"{server.name} signing with the new key",
        )
        kids = {k["kid"] for k in httpx.get(server.url + "/jwks.json").json()["keys"]}
        assert {old_kid, new_kid} <= kids
    fresh = Browser(b.url).login(rp, siti, PASSWORD)
    assert kid_of(fresh["id_token"]) == new_kid
    verify_id_token(a.url, ISSUER, rp, fresh["id_token"], fresh["nonce"])
