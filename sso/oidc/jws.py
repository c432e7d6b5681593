"""Compact JWS (RFC 7515) for our own tokens: RS256 and ES256 with ``cryptography`` key objects.

The key set (``sso.oidc.keys``) holds the keys; this module builds and checks the tokens. A
token is checked in this order: the header alone (three base64url segments, only ``alg``,
``kid`` and ``typ``, an algorithm we sign with), the key by ``kid`` from our own set (never from
the token), the signature, then the claims (``typ``, ``exp``/``nbf``, ``iss``, ``aud``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sso.core import clock
from sso.core.errors import InvalidInput

ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
# Header parameters our own tokens carry. Anything else is refused, above all the ones that
# carry or point to a key (jwk, jku, x5u, x5c) or change how the token is processed (crit, b64).
ALLOWED_HEADER = frozenset({"alg", "kid", "typ"})
MAX_JWT_LENGTH = 16 * 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidJWT(InvalidInput):
    """A JWT we refuse. ``reason`` is for logs and audit events, never for the person."""

    def __init__(self, reason: str) -> None:
        super().__init__("invalid_token", detail=reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"invalid JWT: {self.reason}"


class UnknownKey(InvalidJWT):
    """A well-formed JWT whose ``kid`` names none of our published keys: signed by a key we
    no longer publish (or never had), so it can be neither trusted nor shown to be forged."""


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def sign(private: Any, alg: str, signing_input: bytes) -> bytes:
    """RS256 (RSASSA-PKCS1-v1_5 SHA-256) or ES256 (ECDSA P-256 SHA-256, raw r||s, RFC 7518)."""
    if alg == "RS256":
        assert isinstance(private, rsa.RSAPrivateKey)
        signature: bytes = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signature
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(public: Any, alg: str, signing_input: bytes, signature: bytes) -> bool:
    try:
        if alg == "RS256" and isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return True
        if alg == "ES256" and isinstance(public, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            return True
    except InvalidSignature:
        return False
    return False


_header_segments: dict[tuple[str, str, str | None], bytes] = {}


def header_segment(alg: str, kid: str, typ: str | None) -> bytes:
    """The encoded protected header, built once per (alg, kid, typ)."""
    key = (alg, kid, typ)
    segment = _header_segments.get(key)
    if segment is None:
        header: dict[str, str] = {"alg": alg, "kid": kid}
        if typ:
            header["typ"] = typ
        segment = b64(json.dumps(header, separators=(",", ":")).encode())
        if len(_header_segments) < 1024:
            _header_segments[key] = segment
    return segment


def parse_header(token: object) -> dict[str, Any]:
    """The protected header of a compact JWS, checked before any key is looked at."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError as exc:
            raise InvalidJWT("not ASCII") from exc
    if not isinstance(token, str):
        raise InvalidJWT("not a string")
    if len(token) > MAX_JWT_LENGTH:
        raise InvalidJWT("too long")
    parts = token.split(".")
    # An empty signature is well-formed (alg "none"): it is refused below, by its alg.
    if len(parts) != 3 or not parts[0] or not parts[1] or not all(map(_B64URL.fullmatch, parts)):
        raise InvalidJWT("not a compact JWS (three base64url segments)")
    try:
        raw = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
        header = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError) as exc:  # UnicodeDecodeError included
        raise InvalidJWT("header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise InvalidJWT("header is not a JSON object")
    extra = set(header) - ALLOWED_HEADER
    if extra:
        raise InvalidJWT(f"header parameters not accepted: {sorted(extra)[:5]}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise InvalidJWT(f"alg {str(alg)[:20]!r} not accepted")
    if not isinstance(header.get("kid"), str):
        raise InvalidJWT("no kid")
    if "typ" in header and not isinstance(header["typ"], str):
        raise InvalidJWT("typ is not a string")
    return header


def _normal_typ(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.lower()
    return value.removeprefix("application/")


def check_typ(found: str | None, expected: str | Collection[str | None] | None) -> None:
    if expected is None:
        return
    allowed = [expected] if isinstance(expected, str) else list(expected)
    if _normal_typ(found) not in {_normal_typ(t) for t in allowed}:
        raise InvalidJWT(f"typ {str(found)[:20]!r} not accepted here")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJWT(f"{name} is not a number")
    return float(value)


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str | None,
    audience: str | None,
    check_exp: bool,
    leeway: int,
) -> None:
    now = clock.now().timestamp()
    exp, nbf = _number(claims, "exp"), _number(claims, "nbf")
    _number(claims, "iat")
    if check_exp and (exp is None or now >= exp + leeway):
        raise InvalidJWT("expired" if exp is not None else "no exp")
    if nbf is not None and now < nbf - leeway:
        raise InvalidJWT("not yet valid (nbf)")
    if issuer is not None and claims.get("iss") != issuer:
        raise InvalidJWT("wrong iss")
    if audience is not None:
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if audience not in audiences:
            raise InvalidJWT("wrong aud")


def encode(claims: Mapping[str, Any], alg: str, kid: str, typ: str | None, private: Any) -> str:
    """A compact JWS of ``claims`` (JSON, UTF-8) signed with ``private`` (a cryptography key)."""
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
    signing_input = header_segment(alg, kid, typ) + b"." + b64(payload)
    return (signing_input + b"." + b64(sign(private, alg, signing_input))).decode("ascii")


def verified_claims(token: str | bytes, alg: str, public: Any) -> dict[str, Any]:
    """The payload of ``token`` (already through :func:`parse_header`) once its signature
    verifies with ``public``; :class:`InvalidJWT` otherwise."""
    text = token.decode("ascii") if isinstance(token, bytes) else token
    head, body, signature = text.split(".")
    try:
        valid = verify(public, alg, f"{head}.{body}".encode("ascii"), b64decode(signature))
    except (ValueError, binascii.Error) as exc:
        raise InvalidJWT("signature is not base64url") from exc
    if not valid:
        raise InvalidJWT("signature rejected")
    try:
        claims = json.loads(b64decode(body))
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise InvalidJWT("payload is not base64url JSON") from exc
    if not isinstance(claims, dict):
        raise InvalidJWT("payload is not a JSON object")
    return claims
