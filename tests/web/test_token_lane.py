"""/token, /introspect, /revoke and /userinfo answered by the lean lane (sso.web.token_lane)
say what the stack would say: same status, body, headers, request id, CORS, access-log line,
metrics and rate limits; what the lane does not take goes through the stack."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session

from sso.app import create_app
from sso.web.app_runtime import AppRuntime, build_app_runtime
from sso.web.routes import token as token_routes
from sso.web.token_lane import TokenLane
from tests.conftest import make_settings, seed_signing_keys
from tests.factories import create_client

ORIGIN = "https://spa.example.id"
COMPARED = (
    "content-type",
    "cache-control",
    "pragma",
    "www-authenticate",
    "access-control-allow-origin",
    "access-control-expose-headers",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
    "strict-transport-security",
    "x-request-id",
    "retry-after",
)


def _without_lane(runtime: AppRuntime) -> FastAPI:
    app = create_app(runtime.settings, runtime)
    app.user_middleware = [
        m for m in app.user_middleware if getattr(m, "cls", None) is not TokenLane
    ]
    return app


def _without_token_routes(app: FastAPI) -> FastAPI:
    app.router.routes = [
        r
        for r in app.router.routes
        if getattr(r, "original_router", None) is not token_routes.router
    ]
    return app


@pytest.fixture
def plain(runtime: AppRuntime) -> Iterator[TestClient]:
    """The same provider with the lane taken out: the stack and the routes answer."""
    with TestClient(_without_lane(runtime), base_url="http://testserver") as client:
        yield client


@pytest.fixture
def machine(runtime: AppRuntime, db: Session) -> tuple[str, str]:
    client, secret = create_client(
        runtime,
        db,
        name="Batch job",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="api:read",
    )
    assert secret is not None
    return client.client_id, secret


def _same(fast: Response, slow: Response) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert json.loads(fast.content) == json.loads(slow.content)
    for name in COMPARED:
        assert fast.headers.get(name) == slow.headers.get(name), name
    assert int(fast.headers["content-length"]) == len(fast.content)


def test_the_lane_answers_ahead_of_the_stack(runtime: AppRuntime, machine: tuple[str, str]) -> None:
    seed_signing_keys(runtime)
    app = _without_token_routes(create_app(runtime.settings, runtime))
    with TestClient(app, base_url="http://testserver") as http:
        r = http.post("/token", data={"grant_type": "client_credentials"}, auth=machine)
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["cache-control"] == "no-store"
    without_lane = _without_token_routes(_without_lane(runtime))
    with TestClient(without_lane, base_url="http://testserver") as http:
        r = http.post("/token", data={"grant_type": "client_credentials"}, auth=machine)
        assert r.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "data", "headers"),
    [
        ("POST", "/token", {"grant_type": "client_credentials"}, {"Origin": ORIGIN}),
        ("POST", "/token", {"grant_type": "password"}, {"Authorization": "Basic Zm9vOmJhcg=="}),
        ("POST", "/token", {"grant_type": "authorization_code", "code": "x"}, {}),
        ("POST", "/introspect", {"token": "abc"}, {"Origin": ORIGIN}),
        ("POST", "/revoke", {"token": "abc"}, {"Authorization": "Basic Zm9vOmJhcg=="}),
        ("GET", "/userinfo", None, {"Origin": ORIGIN}),
        ("GET", "/userinfo", None, {"Authorization": "Bearer not-a-token"}),
        ("GET", "/userinfo", None, {"Authorization": "Basic Zm9vOmJhcg=="}),
        ("POST", "/userinfo", {"access_token": "x"}, {"Authorization": "Bearer y"}),
    ],
)
def test_errors_are_the_stacks(
    http: TestClient,
    plain: TestClient,
    method: str,
    path: str,
    data: dict[str, str] | None,
    headers: dict[str, str],
) -> None:
    headers = {**headers, "X-Request-ID": "lane-1"}
    fast = http.request(method, path, data=data, headers=headers)
    slow = plain.request(method, path, data=data, headers=headers)
    _same(fast, slow)
    assert fast.headers["x-request-id"] == "lane-1"
    if fast.status_code == 401 and path != "/introspect":
        assert fast.headers["www-authenticate"]


def test_a_machine_token_through_the_lane_as_through_the_stack(
    http: TestClient, plain: TestClient, machine: tuple[str, str]
) -> None:
    fast = http.post("/token", data={"grant_type": "client_credentials"}, auth=machine)
    slow = plain.post("/token", data={"grant_type": "client_credentials"}, auth=machine)
    assert fast.status_code == slow.status_code == 200
    assert fast.json().keys() == slow.json().keys()
    for name in COMPARED:
        if name != "x-request-id":
            assert fast.headers.get(name) == slow.headers.get(name), name
    token = fast.json()["access_token"]
    # Introspected and revoked through the lane; a revoked token is refused at once.
    active = http.post("/introspect", data={"token": token}, auth=machine)
    assert active.status_code == 200 and active.json()["active"] is True
    assert active.json() == plain.post("/introspect", data={"token": token}, auth=machine).json()
    assert http.post("/revoke", data={"token": token}, auth=machine).status_code == 200
    gone = http.post("/introspect", data={"token": token}, auth=machine)
    assert gone.json() == {"active": False}


def test_what_the_lane_does_not_take_goes_through_the_stack(
    http: TestClient, plain: TestClient, machine: tuple[str, str]
) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    assert http.options("/token", headers=preflight).status_code == 204
    assert http.get("/token").status_code == plain.get("/token").status_code == 405
    big = {"grant_type": "client_credentials", "pad": "x" * (70 * 1024)}
    rid = {"X-Request-ID": "big-1"}
    _same(
        http.post("/token", data=big, auth=machine, headers=rid),
        plain.post("/token", data=big, auth=machine, headers=rid),
    )
    huge = b"grant_type=client_credentials&pad=" + b"x" * (2 * 1024 * 1024)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    fast = http.post("/token", content=huge, headers=form)
    assert fast.status_code == plain.post("/token", content=huge, headers=form).status_code
    assert fast.status_code == 413


def test_access_log_and_metrics_as_for_any_request(
    http: TestClient, machine: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sso.access"):
        http.post(
            "/token?secret-query=1",
            data={"grant_type": "client_credentials"},
            auth=machine,
            headers={"X-Request-ID": "trace-7"},
        )
        http.post("/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x"))
        http.get("/userinfo")
    records = [r for r in caplog.records if r.name == "sso.access"]
    lines = [r.getMessage() for r in records]
    assert lines[0].startswith("POST /token 200 ") and "secret" not in lines[0], lines
    assert getattr(records[0], "request_id", None) == "trace-7"
    assert lines[1].startswith("POST /token 401 "), lines
    assert lines[2].startswith("GET /userinfo 401 "), lines
    text = http.get("/metrics").text
    assert 'sso_http_requests_total{method="POST",route="/token",status="200"} 1.0' in text
    assert 'sso_http_requests_total{method="POST",route="/token",status="401"} 1.0' in text
    assert 'sso_http_requests_total{method="GET",route="/userinfo",status="401"} 1.0' in text


def test_the_request_context_reaches_the_audit_row(
    http: TestClient, machine: tuple[str, str], runtime: AppRuntime
) -> None:
    from sqlalchemy import select

    from sso.db.models import AuditEvent

    http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=machine,
        headers={"X-Request-ID": "audit-9", "User-Agent": "batch/1.0"},
    )
    with runtime.sessions() as s:
        row = s.scalars(select(AuditEvent).where(AuditEvent.event == "token.issued")).one()
    assert row.request_id == "audit-9"
    assert row.user_agent == "batch/1.0"
    assert row.ip == "testclient"


@pytest.fixture
def limited(backend_urls: dict[str, str], backend: str, tmp_path: Path) -> Iterator[AppRuntime]:
    settings = make_settings(
        backend_urls[backend],
        tmp_path,
        rate_limit_ip_per_minute=6,
        rate_limit_client_per_minute=2,
    )
    runtime = build_app_runtime(settings)
    try:
        yield runtime
    finally:
        runtime.close()


def test_rate_limits_count_as_in_the_stack(
    limited: AppRuntime, runtime: AppRuntime, machine: tuple[str, str]
) -> None:
    seed_signing_keys(limited)
    with TestClient(create_app(limited.settings, limited), base_url="http://t") as http:
        # Wrong secrets are given back to the client's count (401), so its budget is kept.
        for _ in range(2):
            r = http.post(
                "/token", data={"grant_type": "client_credentials"}, auth=(machine[0], "x")
            )
            assert r.status_code == 401
        for _ in range(2):
            r = http.post("/token", data={"grant_type": "client_credentials"}, auth=machine)
            assert r.status_code == 200
        refused = http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=machine,
            headers={"Origin": ORIGIN},
        )
        assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["access-control-allow-origin"] == "*"
        assert refused.headers["x-content-type-options"] == "nosniff"
        # Five requests from this address so far; the sixth passes, then every path is refused
        # for it, the lane's paths and the stack's alike (one count).
        assert http.get("/userinfo").status_code == 401
        assert http.get("/userinfo").status_code == 429
        assert http.get("/").status_code == 429
