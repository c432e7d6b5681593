"""``private_key_jwt`` client authentication (RFC 7523 §2.2 and §3, OIDC Core §9).

The assertion is a JWS the client signs with a key of its registered JWKS. We accept only
asymmetric algorithms (never ``none`` nor HMAC: a client's JWKS is public), require
``iss == sub == client_id``, an ``aud`` naming our issuer or one of our endpoints, an ``exp``
no more than :data:`MAX_LIFETIME` ahead, and a ``jti``; the caller records the ``jti`` so the
assertion cannot be used twice. ``reason`` of a refusal is for the audit log, never the client.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import Client
from sso.storage import clients as client_repo

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
MAX_LIFETIME = 3600  # seconds an assertion may still be valid for (bounds the jti table too)
LEEWAY = 60
MAX_LENGTH = 8 * 1024


class AssertionRejected(Exception):
    def __init__(self, reason: str, client_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client_id = client_id


@dataclass(frozen=True)
class VerifiedAssertion:
    client: Client
    jti: str
    expires_at: datetime


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssertionRejected(f"{name} is not a number")
    return float(value)


def _unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        obj = jws.extract_compact(assertion.encode("ascii"))
        claims = json.loads(obj.payload)
        header = dict(obj.headers())
    except (JoseError, ValueError, TypeError, KeyError, UnicodeError, RecursionError) as exc:
        raise AssertionRejected("not a compact JWS") from exc
    if not isinstance(claims, dict):
        raise AssertionRejected("payload is not a JSON object")
    return header, claims


def verify_client_assertion(
    session: Session,
    assertion_type: str | None,
    assertion: str | None,
    audiences: Sequence[str],
) -> VerifiedAssertion:
    if assertion_type != ASSERTION_TYPE or not assertion:
        raise AssertionRejected("client_assertion_type or client_assertion missing or wrong")
    if len(assertion) > MAX_LENGTH:
        raise AssertionRejected("assertion too long")
    header, unverified = _unverified(assertion)
    if header.get("alg") not in ALGORITHMS:
        raise AssertionRejected("alg not accepted")
    client_id = unverified.get("sub")
    if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
        raise AssertionRejected("sub missing")
    client = client_repo.get_by_client_id(session, client_id) if client_id.isprintable() else None
    if client is None or client.status != "active":
        raise AssertionRejected("unknown or inactive client", client_id if client else None)
    if client.token_endpoint_auth_method != "private_key_jwt" or not client.jwks:
        raise AssertionRejected("not the client's registered method", client_id)
    try:
        keys = KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
        claims = dict(jwt.decode(assertion, keys, algorithms=list(ALGORITHMS)).claims)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise AssertionRejected("signature not verified with the client's JWKS", client_id) from exc
    try:
        return _check_claims(client, claims, audiences)
    except AssertionRejected as exc:
        exc.client_id = client_id
        raise


def _check_claims(
    client: Client, claims: dict[str, Any], audiences: Sequence[str]
) -> VerifiedAssertion:
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise AssertionRejected("iss and sub must be the client_id")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a in audiences for a in auds):
        raise AssertionRejected("aud is not this server")
    t = now().timestamp()
    exp = _number(claims, "exp")
    if exp is None:
        raise AssertionRejected("exp missing")
    if t >= exp + LEEWAY:
        raise AssertionRejected("expired")
    if exp > t + MAX_LIFETIME + LEEWAY:
        raise AssertionRejected("exp too far in the future")
    nbf = _number(claims, "nbf")
    if nbf is not None and t < nbf - LEEWAY:
        raise AssertionRejected("not yet valid")
    iat = _number(claims, "iat")
    if iat is not None and iat > t + LEEWAY:
        raise AssertionRejected("issued in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 255 or not jti.isprintable():
        raise AssertionRejected("jti missing or malformed")
    return VerifiedAssertion(client, jti, datetime.fromtimestamp(exp + LEEWAY, UTC))
