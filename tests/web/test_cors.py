"""A single-page app on another origin can call the token, userinfo, revocation, discovery and
JWKS endpoints, and nothing else."""

from __future__ import annotations

from fastapi.testclient import TestClient

ORIGIN = "https://spa.example.id"


def test_preflight_of_the_token_endpoint_allows_any_origin_without_credentials(
    http: TestClient,
) -> None:
    r = http.options(
        "/token",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in r.headers


def test_spa_endpoints_answer_with_cors_headers(http: TestClient) -> None:
    for path in ("/.well-known/openid-configuration", "/jwks.json"):
        r = http.get(path, headers={"Origin": ORIGIN})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
    r = http.post("/token", data={"grant_type": "client_credentials"}, headers={"Origin": ORIGIN})
    assert r.status_code in (400, 401)  # the error still reaches the app, with CORS
    assert r.headers["access-control-allow-origin"] == "*"
    r = http.get("/userinfo", headers={"Origin": ORIGIN})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "*"
    assert "WWW-Authenticate" in r.headers["access-control-expose-headers"]


def test_pages_and_introspection_get_no_cors(http: TestClient) -> None:
    for path in ("/", "/register", "/introspect"):
        r = http.get(path, headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in r.headers, path
    r = http.options(
        "/introspect", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in r.headers
