"""The machine-caller dependency (sso.web.machine_auth) on the real app with real tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.web.machine_auth import (
    MachineAuthError,
    MachineCaller,
    MachineCallerDep,
    require_scopes,
)
from tests.admin.conftest import agencies
from tests.api.conftest import MachineFactory, fetch_token
from tests.factories import create_client

Writer = Annotated[MachineCaller, Depends(require_scopes("admin:write"))]


def _probe(main: FastAPI) -> None:
    """A sub-application mounted on the real app (as the machine APIs are), with two routes:
    who calls, and a call that needs admin:write."""
    app = FastAPI()
    app.state.runtime = main.state.runtime

    @app.get("/caller")
    def caller(who: MachineCallerDep) -> dict[str, Any]:
        return {
            "client_id": who.client_id,
            "scopes": sorted(who.scopes),
            "agency_id": who.agency_id,
            "agencies": sorted(who.agencies) if who.agencies is not None else None,
        }

    @app.post("/write")
    def write(who: Writer) -> dict[str, str]:
        return {"client_id": who.client_id}

    @app.exception_handler(MachineAuthError)
    async def refused(request: Request, exc: MachineAuthError) -> Any:
        return exc.response(request.url.path)

    main.mount("/probe", app)


def _problem(r: Any, status: int, error: str | None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="')
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"]
    if error is None:
        assert "error=" not in challenge and "error" not in body
    else:
        assert f'error="{error}"' in challenge and body["error"] == error
    return body


def test_a_client_token_names_the_caller(
    app: FastAPI, http: TestClient, machine: MachineFactory
) -> None:
    _probe(app)
    m = machine("admin:read admin:write")
    r = http.get("/probe/caller", headers=m.auth)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "client_id": m.client.client_id,
        "scopes": ["admin:read", "admin:write"],
        "agency_id": None,
        "agencies": None,
    }
    assert http.post("/probe/write", headers=m.auth).status_code == 200


def test_no_bad_or_dead_token_is_401(
    app: FastAPI, http: TestClient, machine: MachineFactory
) -> None:
    _probe(app)
    _problem(http.get("/probe/caller"), 401, None)
    _problem(
        http.get("/probe/caller", headers={"Authorization": "Bearer nonsense"}),
        401,
        "invalid_token",
    )
    _problem(
        http.get("/probe/caller", headers={"Authorization": "Basic YTpi"}), 400, "invalid_request"
    )
    m = machine()
    # A token in the query string is not looked at (RFC 6750 §2.3 is not offered).
    _problem(http.get("/probe/caller", params={"access_token": m.token}), 401, None)
    r = http.post("/revoke", data={"token": m.token}, auth=(m.client.client_id, m.secret))
    assert r.status_code == 200
    _problem(http.get("/probe/caller", headers=m.auth), 401, "invalid_token")


def test_a_missing_scope_is_403_and_names_it(
    app: FastAPI, http: TestClient, machine: MachineFactory
) -> None:
    _probe(app)
    m = machine("admin:read admin:write", token_scope="admin:read")
    body = _problem(http.post("/probe/write", headers=m.auth), 403, "insufficient_scope")
    assert body["scope"] == "admin:write"
    assert (
        'scope="admin:write"'
        in http.post("/probe/write", headers=m.auth).headers["www-authenticate"]
    )


def test_a_scope_taken_from_the_client_is_gone_at_once(
    app: FastAPI, http: TestClient, db: Session, machine: MachineFactory
) -> None:
    _probe(app)
    m = machine("admin:read admin:write")
    m.client.scope = "admin:read"
    db.commit()
    app.state.runtime.token_server.tokens.clients.clear()  # this process's client cache (another worker: 2 s)
    r = http.get("/probe/caller", headers=m.auth)
    assert r.json()["scopes"] == ["admin:read"]
    _problem(http.post("/probe/write", headers=m.auth), 403, "insufficient_scope")


def test_a_limited_client_carries_its_agency_subtree(
    app: FastAPI, http: TestClient, db: Session, machine: MachineFactory
) -> None:
    _probe(app)
    tree = agencies(db)
    m = machine(agency="DISKOMINFO")
    r = http.get("/probe/caller", headers=m.auth)
    assert r.json()["agency_id"] == tree["DISKOMINFO"].id
    assert r.json()["agencies"] == sorted([tree["DISKOMINFO"].id, tree["BIDANG-TI"].id])


def test_a_persons_token_is_refused(
    app: FastAPI, http: TestClient, runtime: Any, db: Session
) -> None:
    """A token a person granted is no machine mandate, whatever its scopes."""
    from tests.factories import create_user
    from tests.oidc.flow import authorize_url, login, query_of

    _probe(app)
    create_user(runtime, db, username="siti")
    client, secret = create_client(runtime, db, scope="openid admin:read")
    assert secret
    req = authorize_url(client.client_id, scope="openid admin:read")
    code = query_of(login(http, req, "siti"))["code"]
    r = http.post(
        "/token",
        auth=(client.client_id, secret),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://rp.example.id/callback",
            "code_verifier": req.verifier,
        },
    )
    assert r.status_code == 200, r.text
    assert "admin:read" in r.json()["scope"]
    person = {"Authorization": f"Bearer {r.json()['access_token']}"}
    _problem(http.get("/probe/caller", headers=person), 401, "invalid_token")
    # and the same client's own token is accepted once it may use client_credentials
    client.grant_types = [*client.grant_types, "client_credentials"]
    db.commit()
    app.state.runtime.token_server.tokens.clients.clear()
    own = fetch_token(http, client.client_id, secret, "admin:read")
    assert http.get("/probe/caller", headers={"Authorization": f"Bearer {own}"}).status_code == 200
