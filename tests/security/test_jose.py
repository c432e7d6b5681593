"""JOSE attacks at every place the provider accepts a JWT.

Places: access tokens at /userinfo and /introspect, ``id_token_hint`` at /authorize and
/logout, ``private_key_jwt`` client assertions at /token. Attacks: ``alg: none``, HS256 keyed
with our public key (PEM and JWK forms), keys carried in the header (``jwk``, ``jku``, ``x5u``,
``x5c``) with the attacker's signature, unknown ``crit`` (even under our own signature), an ID
token presented as an access token and the reverse, expired and not-yet-valid tokens, wrong
``iss``/``aud``. (The relying parties' own checks of logout tokens: ``tests/clients``.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from joserfc import jws as rfc_jws
from joserfc.jwk import RSAKey
from sqlalchemy.orm import Session

from sso.oidc import jws as our_jws
from sso.web.app_runtime import AppRuntime
from tests.factories import create_client, create_user
from tests.oauth.helpers import assertion, client_key, public_jwks
from tests.oidc.flow import authorize_url, login, query_of

REDIRECT = "https://rp.example.id/callback"
LOGOUT_DONE = "https://rp.example.id/logged-out"
ISSUER = "http://testserver"


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")

    def pad(s: str) -> bytes:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

    return json.loads(pad(head)), json.loads(pad(body))


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(header)}.{b64(claims)}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


@dataclass
class Genuine:
    access_token: str
    id_token: str
    client_id: str
    secret: str


@pytest.fixture
def genuine(http: TestClient, runtime: AppRuntime, db: Session) -> Genuine:
    """A person logged in at the provider, and the tokens their relying party received."""
    client, secret = create_client(
        runtime, db, redirect_uris=[REDIRECT], post_logout_redirect_uris=[LOGOUT_DONE]
    )
    assert secret is not None
    create_user(runtime, db, username="siti")
    req = authorize_url(client.client_id)
    code = query_of(login(http, req, "siti"))["code"]
    r = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": req.verifier,
        },
        auth=(client.client_id, secret),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    return Genuine(body["access_token"], body["id_token"], client.client_id, secret)


def _ours(runtime: AppRuntime, alg: str) -> Any:
    """Our active signing key of ``alg`` (the private key never leaves the process)."""
    return runtime.keys.cache._current(None).signing[alg]


def resigned(runtime: AppRuntime, token: str, **changes: Any) -> str:
    """``token`` with ``changes`` to its claims under our real signature: a token we could have
    made ourselves, refused for what its claims say."""
    header, claims = parts(token)
    claims.update(changes)
    private = _ours(runtime, header["alg"]).private_key
    return our_jws.encode(claims, header["alg"], header["kid"], header.get("typ"), private)


def attacks(runtime: AppRuntime, genuine_token: str) -> dict[str, str]:
    """Forgeries of ``genuine_token``: its own claims, with a header or signature attack."""
    header, claims = parts(genuine_token)
    ours = _ours(runtime, header["alg"])
    public_pem = ours.private_key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    public_jwk = json.dumps(RSAKey.import_key(public_pem).as_dict(private=False)).encode()
    attacker = RSAKey.generate_key(2048, parameters={"kid": header["kid"]}, private=True)
    attacker_public = dict(attacker.as_dict(private=False))

    def by_attacker(extra: dict[str, Any]) -> str:
        return forge(
            {**header, **extra},
            claims,
            lambda data: rfc_jws.JWSRegistry.algorithms["RS256"].sign(data, attacker),
        )

    def by_us(extra: dict[str, Any]) -> str:
        return forge(
            {**header, **extra},
            claims,
            lambda data: our_jws.sign(ours.private_key, header["alg"], data),
        )

    def hs256(secret: bytes) -> str:
        return forge(
            {**header, "alg": "HS256"},
            claims,
            lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
        )

    return {
        "alg none": f"{b64({**header, 'alg': 'none'})}.{b64(claims)}.",
        "alg None signed": f"{b64({**header, 'alg': 'None'})}.{b64(claims)}.c2ln",
        "HS256 keyed with our PEM": hs256(public_pem),
        "HS256 keyed with our JWK": hs256(public_jwk),
        "attacker key in jwk": by_attacker({"jwk": attacker_public}),
        "attacker jku": by_attacker({"jku": "https://evil.example/jwks.json"}),
        "attacker x5u": by_attacker({"x5u": "https://evil.example/cert.pem"}),
        "attacker x5c": by_attacker({"x5c": ["MIIBfake"]}),
        "attacker signature, our kid": by_attacker({}),
        "unknown crit (our signature)": by_us(
            {"crit": ["urn:evil:ignore-exp"], "urn:evil:ignore-exp": True}
        ),
        "jku under our signature": by_us({"jku": "https://evil.example/jwks.json"}),
        "payload swapped": ".".join(
            [
                genuine_token.split(".")[0],
                b64({**claims, "sub": "someone-else"}),
                genuine_token.split(".")[2],
            ]
        ),
    }


def _userinfo_refuses(http: TestClient, token: str) -> bool:
    r = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    return r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


def _introspect_inactive(http: TestClient, g: Genuine, token: str) -> bool:
    r = http.post("/introspect", data={"token": token}, auth=(g.client_id, g.secret))
    return r.status_code == 200 and r.json() == {"active": False}


def test_access_token_forgeries_are_refused_at_userinfo_and_introspect(
    http: TestClient, runtime: AppRuntime, genuine: Genuine
) -> None:
    assert (
        http.get(
            "/userinfo", headers={"Authorization": f"Bearer {genuine.access_token}"}
        ).status_code
        == 200
    )
    now = int(time.time())
    token = genuine.access_token
    cases = attacks(runtime, token)
    cases["expired"] = resigned(runtime, token, exp=now - 3600, iat=now - 7200)
    cases["not yet valid"] = resigned(runtime, token, nbf=now + 3600)
    cases["wrong iss"] = resigned(runtime, token, iss="https://evil.example")
    cases["another person's sub"] = resigned(runtime, token, sub="someone-else")
    cases["ID token as access token"] = genuine.id_token
    for name, token in cases.items():
        assert _userinfo_refuses(http, token), name
        assert _introspect_inactive(http, genuine, token), name


def _authorize_with_hint(http: TestClient, client_id: str, hint: str) -> dict[str, str]:
    req = authorize_url(client_id, prompt="none", id_token_hint=hint)
    r = http.get(req.url, follow_redirects=False)
    assert r.status_code == 303, r.text
    return query_of(r.headers["location"])


def test_id_token_hint_forgeries_are_refused_at_authorize(
    http: TestClient, runtime: AppRuntime, genuine: Genuine
) -> None:
    assert "code" in _authorize_with_hint(http, genuine.client_id, genuine.id_token)
    cases = attacks(runtime, genuine.id_token)
    cases["wrong iss"] = resigned(runtime, genuine.id_token, iss="https://evil.example")
    cases["not yet valid"] = resigned(runtime, genuine.id_token, nbf=int(time.time()) + 3600)
    cases["access token as id_token_hint"] = genuine.access_token
    for name, hint in cases.items():
        query = _authorize_with_hint(http, genuine.client_id, hint)
        assert "code" not in query, name
        assert query["error"] == "invalid_request", (name, query)


def test_id_token_hint_forgeries_are_refused_at_logout(
    http: TestClient, runtime: AppRuntime, genuine: Genuine
) -> None:
    cases = attacks(runtime, genuine.id_token)
    cases["access token as id_token_hint"] = genuine.access_token
    cases["wrong iss"] = resigned(runtime, genuine.id_token, iss="https://evil.example")
    for name, hint in cases.items():
        query = urlencode({"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_DONE})
        r = http.get(f"/logout?{query}", follow_redirects=False)
        assert r.status_code == 400, (name, r.status_code)
        assert LOGOUT_DONE not in r.headers.get("location", ""), name
    # The person is still logged in: a forged hint ended nothing.
    assert "code" in _authorize_with_hint(http, genuine.client_id, genuine.id_token)
    # ...and the genuine hint is accepted (the refusals above are not for another reason).
    query = urlencode({"id_token_hint": genuine.id_token, "post_logout_redirect_uri": LOGOUT_DONE})
    r = http.get(f"/logout?{query}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(LOGOUT_DONE), r.text


# ---------------------------------------------------------------------------- private_key_jwt


TOKEN_URL = f"{ISSUER}/token"


def test_client_assertion_attacks_are_refused_at_token(
    http: TestClient, runtime: AppRuntime, db: Session
) -> None:
    key = client_key()
    client, _ = create_client(
        runtime,
        db,
        name="Batch job",
        redirect_uris=[REDIRECT],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks=public_jwks(key),
        scope="opd",
    )
    cid = client.client_id

    def token_with(client_assertion: str) -> Any:
        return http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": client_assertion,
            },
        )

    assert token_with(assertion(key, cid)).status_code == 200  # the genuine one works
    genuine = assertion(key, cid)
    header, claims = parts(genuine)
    attacker = RSAKey.generate_key(2048, parameters={"kid": key.kid}, private=True)
    pem = key.as_pem(private=False)
    jwk_json = json.dumps(key.as_dict(private=False)).encode()
    now = int(time.time())

    def by(signer: RSAKey, extra_header: dict[str, Any], **claim_changes: Any) -> str:
        fresh = {**claims, "jti": f"j-{time.monotonic_ns()}", **claim_changes}
        return forge(
            {**header, **extra_header},
            fresh,
            lambda data: rfc_jws.JWSRegistry.algorithms["RS256"].sign(data, signer),
        )

    def hs256(secret: bytes) -> str:
        fresh = {**claims, "jti": f"j-{time.monotonic_ns()}"}
        return forge(
            {**header, "alg": "HS256"},
            fresh,
            lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
        )

    cases = {
        "alg none": f"{b64({**header, 'alg': 'none'})}.{b64({**claims, 'jti': 'n1'})}.",
        "HS256 keyed with the client's PEM": hs256(pem),
        "HS256 keyed with the client's JWK": hs256(jwk_json),
        "attacker key in jwk": by(attacker, {"jwk": dict(attacker.as_dict(private=False))}),
        "attacker jku": by(attacker, {"jku": "https://evil.example/jwks.json"}),
        "attacker x5u": by(attacker, {"x5u": "https://evil.example/cert.pem"}),
        "attacker x5c": by(attacker, {"x5c": ["MIIBfake"]}),
        "unknown crit (client's signature)": by(key, {"crit": ["urn:evil"], "urn:evil": 1}),
        "expired": by(key, {}, exp=now - 3600, iat=now - 3700),
        "issued in the future": by(key, {}, iat=now + 3600, exp=now + 3700),
        "not yet valid": by(key, {}, nbf=now + 3600),
        "exp too far ahead": by(key, {}, exp=now + 30 * 24 * 3600),
        "wrong aud": by(key, {}, aud="https://evil.example/token"),
        "wrong iss": by(key, {}, iss="someone-else"),
        "replayed jti": genuine,
    }
    token_with(genuine)  # the first use of ``genuine``: the case above is its replay
    for name, forged in cases.items():
        r = token_with(forged)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.json()["error"] == "invalid_client", name
