"""PostgreSQL restarted under steady load, on a throwaway cluster of the test's own
(initdb/pg_ctl of the installed server, its own port and socket directory): while it is down
every request that needs it fails fast with 503 and Retry-After, no stack trace, nothing hangs;
when it is back the same provider process serves again, without a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.resilience.conftest import PASSWORD, City, MakeCity
from tests.resilience.load import SteadyLoad
from tests.resilience.people import RP, Browser, no_stack_trace
from tests.resilience.procs import PgCluster, wait_until


@pytest.fixture()
def cluster() -> Iterator[PgCluster]:
    pg = PgCluster()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


def test_postgres_restart_under_load(make_city: MakeCity, cluster: PgCluster) -> None:
    city: City = make_city(admin=cluster.admin_url)
    rp = city.rp()
    machine = RP(**json.loads(city.sso("clients", "create", "--name", "Mesin", "--json")))
    city.person("siti")
    provider = city.provider("a")
    tokens = Browser(provider.url).login(rp, "siti", PASSWORD)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    auth = (machine.client_id, machine.client_secret)
    authorize = (
        f"/authorize?response_type=code&client_id={rp.client_id}&scope=openid"
        "&redirect_uri=https%3A%2F%2Frp.example.id%2Fcallback&state=s&nonce=n"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256"
    )
    load = SteadyLoad(
        provider.url,
        [
            (
                "token",
                lambda h: h.post("/token", data={"grant_type": "client_credentials"}, auth=auth),
            ),
            ("userinfo", lambda h: h.get("/userinfo", headers=bearer)),
            ("authorize", lambda h: h.get(authorize)),
            ("jwks", lambda h: h.get("/jwks.json")),
        ],
    ).start()
    try:
        wait_until(lambda: load.count("before") >= 12, 60, "load before the outage")
        load.phase = "down"
        cluster.stop("fast")
        wait_until(lambda: load.count("down") >= 24, 60, "load during the outage")
        ready = httpx.get(provider.url + "/readyz", timeout=10)
        assert ready.status_code == 503 and ready.headers["retry-after"]
        load.phase = "restarting"
        cluster.start()
        # The same process recovers: readiness first, then every kind of request.
        wait_until(
            lambda: httpx.get(provider.url + "/readyz", timeout=10).status_code == 200,
            60,
            "/readyz after PostgreSQL is back",
        )
        load.phase = "back"
        wait_until(lambda: load.count("back") >= 12, 60, "load after the outage")
        again = Browser(provider.url).login(rp, "siti", PASSWORD)
        assert again["id_token"]
    finally:
        load.stop()

    expected = {"token": 200, "userinfo": 200, "authorize": 303, "jwks": 200}
    for answer in load.in_phase("before") + load.in_phase("back"):
        assert answer.status == expected[answer.kind], answer
    down = load.in_phase("down")
    assert not [a for a in down if a.status == 0], "requests hung or were dropped"
    refused = [a for a in down if a.status == 503]
    assert refused, "no request saw the outage"
    for answer in down:
        assert answer.status in (503, expected[answer.kind]), answer
        if answer.status == 503:
            assert answer.retry_after and int(answer.retry_after) > 0, answer
            body = json.loads(answer.body)
            assert body["error"] == "temporarily_unavailable", body
            no_stack_trace(httpx.Response(503, text=answer.body))
    assert provider.proc is not None and provider.proc.poll() is None, "the provider restarted"
