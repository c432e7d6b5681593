"""Complete validation of an upstream's ID token (OIDC Core §3.1.3.7): each failure refused.
The upstream's discovery document and JWKS come from a real HTTP server started here, which
counts the JWKS fetches (cached; fetched again for an unknown ``kid``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from sso.federation.id_tokens import IdTokenRefused, validate
from sso.federation.metadata import MetadataCache, UpstreamUnavailable
from tests.conftest import make_settings

CLIENT = "tangsel-sso"
NONCE = "n-0S6_WzA2Mj"


class Keys:
    def __init__(self) -> None:
        self.published: list[Any] = [RSAKey.generate_key(2048, parameters={"kid": "k1"})]
        self.jwks_fetches = 0
        self.issuer = ""


class Handler(BaseHTTPRequestHandler):
    keys: Keys

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/.well-known/openid-configuration":
            body: dict[str, Any] = {
                "issuer": self.keys.issuer,
                "authorization_endpoint": f"{self.keys.issuer}/a",
                "token_endpoint": f"{self.keys.issuer}/t",
                "jwks_uri": f"{self.keys.issuer}/jwks",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            }
        elif self.path == "/jwks":
            self.keys.jwks_fetches += 1
            body = {"keys": [k.as_dict(private=False) for k in self.keys.published]}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Keys, MetadataCache]]:
    keys = Keys()
    handler = type("H", (Handler,), {"keys": keys})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    keys.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield keys, MetadataCache(make_settings("sqlite://", tmp_path))
    server.shutdown()


def claims(keys: Keys, **changes: Any) -> dict[str, Any]:
    t = int(time.time())
    out = {
        "iss": keys.issuer,
        "sub": "248289761001",
        "aud": CLIENT,
        "exp": t + 300,
        "iat": t,
        "nonce": NONCE,
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def sign(payload: dict[str, Any], key: Any, alg: str = "RS256", **header: Any) -> str:
    head = {"alg": alg, "kid": key.kid, **header}
    return jwt.encode(head, payload, key)


def check(cache: MetadataCache, keys: Keys, token: str) -> dict[str, Any]:
    return validate(cache, cache.metadata(keys.issuer), token, client_id=CLIENT, nonce=NONCE)


def test_a_good_token_is_accepted_and_the_jwks_is_cached(
    upstream: tuple[Keys, MetadataCache],
) -> None:
    keys, cache = upstream
    key = keys.published[0]
    assert check(cache, keys, sign(claims(keys), key))["sub"] == "248289761001"
    check(cache, keys, sign(claims(keys, aud=[CLIENT, "other"], azp=CLIENT), key))
    assert keys.jwks_fetches == 1


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"iss": "https://evil.example"}, "wrong iss"),
        ({"aud": "another-client"}, "wrong aud"),
        ({"aud": [CLIENT, "other"]}, "several audiences and no azp"),
        ({"azp": "other"}, "wrong azp"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": None}, "no exp"),
        ({"iat": None}, "no iat"),
        ({"iat": int(time.time()) + 3600}, "iat in the future"),
        ({"iat": int(time.time()) - 7200}, "iat too old"),
        ({"nonce": "another"}, "wrong nonce"),
        ({"nonce": None}, "wrong nonce"),
        ({"sub": None}, "no sub"),
    ],
)
def test_each_claim_failure_is_refused(
    upstream: tuple[Keys, MetadataCache], change: dict[str, Any], reason: str
) -> None:
    keys, cache = upstream
    with pytest.raises(IdTokenRefused) as refused:
        check(cache, keys, sign(claims(keys, **change), keys.published[0]))
    assert refused.value.reason == reason


def test_a_forged_signature_is_refused(upstream: tuple[Keys, MetadataCache]) -> None:
    keys, cache = upstream
    forger = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, other key
    with pytest.raises(IdTokenRefused, match="bad signature"):
        check(cache, keys, sign(claims(keys), forger))
    good = sign(claims(keys), keys.published[0])
    head, body, sig = good.split(".")
    tampered = sign(claims(keys, sub="someone-else"), keys.published[0]).split(".")[1]
    with pytest.raises(IdTokenRefused, match="bad signature"):
        check(cache, keys, f"{head}.{tampered}.{sig}")


def test_alg_none_hmac_and_key_bearing_headers_are_refused(
    upstream: tuple[Keys, MetadataCache],
) -> None:
    keys, cache = upstream
    import base64

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none'})}.{b64(claims(keys))}."
    with pytest.raises(IdTokenRefused):
        check(cache, keys, unsigned)
    hmac = OctKey.import_key(b"the-client-secret-as-an-hmac-key!", {"kid": "k1"})
    with pytest.raises(IdTokenRefused, match="alg"):
        check(cache, keys, sign(claims(keys), hmac, "HS256"))
    with pytest.raises(IdTokenRefused, match="refused"):
        check(cache, keys, sign(claims(keys), keys.published[0], jku="https://evil/jwks"))
    with pytest.raises(IdTokenRefused):
        check(cache, keys, "not.a.jwt")
    with pytest.raises(IdTokenRefused, match="no id_token"):
        validate(cache, cache.metadata(keys.issuer), None, client_id=CLIENT, nonce=NONCE)


def test_an_unknown_kid_fetches_the_jwks_again_once(upstream: tuple[Keys, MetadataCache]) -> None:
    keys, cache = upstream
    check(cache, keys, sign(claims(keys), keys.published[0]))
    rotated = ECKey.generate_key("P-256", parameters={"kid": "k2"})
    keys.published.append(rotated)
    assert check(cache, keys, sign(claims(keys), rotated, "ES256"))  # after a fresh fetch
    assert keys.jwks_fetches == 2
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k3"})
    with pytest.raises(IdTokenRefused, match="unknown kid"):
        check(cache, keys, sign(claims(keys), stranger))
    assert keys.jwks_fetches == 2  # not again right away: forged kids cannot hammer it


def test_a_document_naming_another_issuer_is_refused(upstream: tuple[Keys, MetadataCache]) -> None:
    keys, cache = upstream
    real = keys.issuer
    keys.issuer = "https://impostor.example"
    with pytest.raises(UpstreamUnavailable, match="another issuer"):
        cache.metadata(real)
