"""Discovery documents (OIDC Discovery 1.0, RFC 8414) agree with each other and with the server."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from joserfc.jwk import KeySet


def test_both_documents_agree_and_point_at_live_endpoints(http: TestClient) -> None:
    oidc = http.get("/.well-known/openid-configuration")
    oauth = http.get("/.well-known/oauth-authorization-server")
    assert oidc.status_code == oauth.status_code == 200
    a, b = oidc.json(), oauth.json()
    for key in set(a) & set(b):
        assert a[key] == b[key], key
    assert a["issuer"] == "http://testserver"
    assert a["response_types_supported"] == ["code"]  # no implicit or hybrid (RFC 9700)
    assert a["code_challenge_methods_supported"] == ["S256"]  # plain is refused
    assert a["authorization_response_iss_parameter_supported"] is True
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ):
        path = a[name].removeprefix("http://testserver")
        method = (
            http.get
            if name
            in ("authorization_endpoint", "jwks_uri", "userinfo_endpoint", "end_session_endpoint")
            else http.post
        )
        r = method(path, follow_redirects=False)
        assert r.status_code != 404, f"{name} {path} is advertised but not served"


def test_jwks_has_public_keys_only_for_every_advertised_alg(http: TestClient) -> None:
    r = http.get("/jwks.json")
    assert r.status_code == 200
    doc = r.json()
    KeySet.import_key_set(doc)
    algs = {k["alg"] for k in doc["keys"]}
    advertised = set(
        http.get("/.well-known/openid-configuration").json()[
            "id_token_signing_alg_values_supported"
        ]
    )
    assert advertised <= algs
    private_members = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
    for key in doc["keys"]:
        assert not private_members & set(key), key["kid"]
        assert key["use"] == "sig" and key["kid"]
    assert "PRIVATE" not in json.dumps(doc)


def test_health_and_readiness(http: TestClient) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_home_page_in_both_languages(http: TestClient) -> None:
    page = http.get("/")
    assert page.status_code == 200 and 'lang="id"' in page.text
    assert 'lang="en"' in http.get("/?lang=en").text
