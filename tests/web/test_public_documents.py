"""Discovery and JWKS answered ahead of the middleware stack (sso.web.public_documents) say
exactly what the stack would say, revalidate like it, and keep the same headers and logs."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from sso.web.app_runtime import AppRuntime
from sso.web.public_documents import PublicDocuments

PATHS = (
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/jwks.json",
)


@pytest.mark.parametrize("path", PATHS)
def test_same_body_and_headers_as_the_routes(
    http: TestClient, runtime: AppRuntime, path: str
) -> None:
    from sso.app import create_app

    fast = http.get(path, headers={"X-Request-ID": "abc-123"})
    assert fast.status_code == 200
    # The same application without the fast path (the routes of sso.web.routes.discovery).
    plain_app = create_app(runtime.settings, runtime)
    plain_app.user_middleware = [
        m for m in plain_app.user_middleware if m.cls is not PublicDocuments
    ]
    with TestClient(plain_app, base_url="http://testserver") as plain_http:
        slow = plain_http.get(path, headers={"X-Request-ID": "abc-123"})
    assert slow.status_code == 200
    assert fast.content == slow.content
    json.loads(fast.content)
    for name in (
        "content-type",
        "cache-control",
        "access-control-allow-origin",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "content-security-policy",
        "x-request-id",
    ):
        assert fast.headers.get(name) == slow.headers.get(name), name
    assert fast.headers["x-request-id"] == "abc-123"
    assert int(fast.headers["content-length"]) == len(fast.content)


def test_request_id_made_when_missing_or_unsafe(http: TestClient) -> None:
    made = http.get("/jwks.json").headers["x-request-id"]
    assert len(made) == 32
    unsafe = http.get("/jwks.json", headers={"X-Request-ID": "a b;<x>"}).headers["x-request-id"]
    assert unsafe != "a b;<x>" and len(unsafe) == 32


def test_cors_exposes_headers_to_a_browser_origin(http: TestClient) -> None:
    r = http.get("/.well-known/openid-configuration", headers={"Origin": "https://app.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "WWW-Authenticate" in r.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in r.headers
    assert "access-control-expose-headers" not in http.get("/jwks.json").headers


@pytest.mark.parametrize("path", PATHS)
def test_etag_gives_304_without_a_body(http: TestClient, path: str) -> None:
    first = http.get(path)
    etag = first.headers["etag"]
    again = http.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["x-content-type-options"] == "nosniff"
    assert http.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    assert http.get(path, headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304


def test_a_new_key_is_published_at_once_with_a_new_etag(
    http: TestClient, runtime: AppRuntime, db: object
) -> None:
    before = http.get("/jwks.json")
    kids = {k["kid"] for k in before.json()["keys"]}
    runtime.keys.rotate(db, "RS256")  # type: ignore[arg-type]
    db.commit()  # type: ignore[attr-defined]
    after = http.get("/jwks.json", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200, "the old ETag must not match the new key set"
    assert {k["kid"] for k in after.json()["keys"]} > kids
    assert after.headers["etag"] != before.headers["etag"]


def test_other_methods_go_through_the_stack(http: TestClient) -> None:
    assert http.post("/jwks.json").status_code == 405
    preflight = http.options(
        "/.well-known/openid-configuration",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204
    assert http.get("/.well-known/openid-configuration/x").status_code == 404


def test_access_log_and_metrics_as_for_any_request(
    http: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    http.get("/jwks.json")  # the first one may revalidate through the route
    with caplog.at_level(logging.INFO, logger="sso.access"):
        http.get("/jwks.json?x=secret-query", headers={"X-Request-ID": "trace-42"})
    records = [r for r in caplog.records if r.name == "sso.access"]
    lines = [r.getMessage() for r in records]
    assert any(line.startswith("GET /jwks.json 200 ") for line in lines), lines
    assert not any("secret-query" in line for line in lines)
    assert getattr(records[-1], "request_id", None) == "trace-42"
    http.get("/jwks.json", headers={"If-None-Match": http.get("/jwks.json").headers["etag"]})
    text = http.get("/metrics").text
    assert 'sso_http_requests_total{method="GET",route="/jwks.json",status="200"} 3.0' in text
    assert 'sso_http_requests_total{method="GET",route="/jwks.json",status="304"} 1.0' in text


def test_database_down_serves_the_last_jwks_and_asks_again_later(
    http: TestClient, runtime: AppRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from sso.web import public_documents

    good = http.get("/jwks.json")
    keys = runtime.keys
    calls: list[int] = []

    def unreachable(**_kw: object) -> bytes:
        calls.append(1)
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(keys, "jwks", unreachable)
    keys.cache.invalidate()
    for _ in range(3):
        stale = http.get("/jwks.json")
        assert stale.status_code == 200 and stale.content == good.content
    assert len(calls) == 1, "asked the database once, then served the copy for a while"

    # A process that never had a copy: the route answers, with a readable 503.
    monkeypatch.setattr(keys.cache, "_snapshot", None)
    monkeypatch.setattr(public_documents, "STALE_RETRY", 0.0)
    down = http.get("/jwks.json")
    assert down.status_code == 503 and int(down.headers["retry-after"]) > 0
    assert down.json()["error"]
