"""Validation of an upstream's ID token, completely (OIDC Core §3.1.3.7), before anything is
created or linked:

1. the header: a compact JWS with an asymmetric ``alg`` the upstream publishes (never ``none``,
   never an HMAC keyed with our client secret, never a key carried or pointed to by the token:
   ``jwk``, ``jku``, ``x5u``, ``x5c``; no ``crit``);
2. the key by ``kid`` from the upstream's JWKS (fetched again once for an unknown ``kid``);
3. the signature;
4. ``iss`` equals the registered issuer; ``aud`` holds our client id; with several audiences
   ``azp`` is required, and ``azp`` when present is our client id; ``exp`` is in the future;
   ``iat`` is present, not in the future and recent; ``nonce`` equals the one we sent; ``sub``
   is present.

:class:`IdTokenRefused` carries the reason for the log and the audit event; the person only
learns that the upstream's answer could not be trusted.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sso.core import clock
from sso.core.crypto import constant_time_equals
from sso.federation.metadata import MetadataCache, ProviderMetadata

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
REFUSED_HEADER = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})
LEEWAY = 60
MAX_AGE = 600  # seconds since iat: the token was just issued for this exchange
MAX_LENGTH = 32 * 1024


class IdTokenRefused(Exception):
    """An ID token we do not trust; ``reason`` is for operators only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _header(token: str) -> dict[str, Any]:
    if len(token) > MAX_LENGTH:
        raise IdTokenRefused("too long")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise IdTokenRefused("not a compact JWS")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise IdTokenRefused("header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise IdTokenRefused("header is not a JSON object")
    if REFUSED_HEADER & set(header):
        raise IdTokenRefused(f"header parameters refused: {sorted(REFUSED_HEADER & set(header))}")
    return header


def _key_set(jwks: Mapping[str, Any]) -> KeySet:
    usable = [
        k
        for k in jwks.get("keys", [])
        if isinstance(k, dict) and k.get("use", "sig") == "sig" and k.get("kty") in ("RSA", "EC")
    ]
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError):
        raise IdTokenRefused("the upstream's JWKS cannot be read") from None


def _pick(keys: KeySet, kid: str | None) -> Any:
    if kid is None:
        if len(keys.keys) == 1:
            return keys.keys[0]
        raise IdTokenRefused("no kid and several keys")
    for key in keys.keys:
        if key.kid == kid:
            return key
    return None


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdTokenRefused(f"no {name}")
    return float(value)


def check_claims(claims: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str) -> None:
    if claims.get("iss") != issuer:
        raise IdTokenRefused("wrong iss")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise IdTokenRefused("wrong aud")
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise IdTokenRefused("several audiences and no azp")
    if azp is not None and azp != client_id:
        raise IdTokenRefused("wrong azp")
    t = clock.now().timestamp()
    if t >= _number(claims, "exp") + LEEWAY:
        raise IdTokenRefused("expired")
    iat = _number(claims, "iat")
    if iat > t + LEEWAY:
        raise IdTokenRefused("iat in the future")
    if iat < t - MAX_AGE - LEEWAY:
        raise IdTokenRefused("iat too old")
    found = claims.get("nonce")
    if not isinstance(found, str) or not constant_time_equals(found, nonce):
        raise IdTokenRefused("wrong nonce")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise IdTokenRefused("no sub")


def validate(
    cache: MetadataCache, meta: ProviderMetadata, token: object, *, client_id: str, nonce: str
) -> dict[str, Any]:
    """The claims of ``token`` once every check passed; :class:`IdTokenRefused` otherwise.
    :class:`~sso.federation.metadata.UpstreamUnavailable` when the JWKS cannot be fetched."""
    if not isinstance(token, str):
        raise IdTokenRefused("no id_token")
    header = _header(token)
    alg = header.get("alg")
    allowed = [a for a in meta.signing_algs if a in ASYMMETRIC] or ["RS256"]
    if not isinstance(alg, str) or alg not in allowed:
        raise IdTokenRefused(f"alg {str(alg)[:20]!r} not accepted")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise IdTokenRefused("kid is not a string")
    key = _pick(_key_set(cache.jwks(meta)), kid)
    if key is None:  # the upstream may have rotated its keys: one fresh look
        key = _pick(_key_set(cache.jwks(meta, unknown_kid=True)), kid)
    if key is None:
        raise IdTokenRefused("unknown kid")
    try:
        signed = jws.deserialize_compact(token, key, algorithms=[alg])
        claims = json.loads(signed.payload)
    except (JoseError, ValueError):
        raise IdTokenRefused("bad signature") from None
    if not isinstance(claims, dict):
        raise IdTokenRefused("payload is not a JSON object")
    check_claims(claims, issuer=meta.issuer, client_id=client_id, nonce=nonce)
    return claims
