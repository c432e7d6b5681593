"""The provider's metadata and key set, fetched over HTTP and cached.

Keys rotate at the provider: a new key is published before it signs. A token whose ``kid`` we
do not know makes us refetch the JWKS once, but not more often than
``min_refetch_interval`` seconds, so a flood of tokens with made-up ``kid`` values cannot turn
into a flood of requests to the provider. Only asymmetric algorithms are accepted: never
``none``, never an HMAC keyed with a public key.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tangsel_rp.tls import SSL_CONTEXT

ALGORITHMS = ("RS256", "ES256", "PS256")


class ProviderUnavailable(Exception):
    """The provider's discovery document or JWKS could not be fetched (or was wrong)."""


class Discovery:
    """OpenID Connect Discovery 1.0: the document at ``<issuer>/.well-known/openid-configuration``,
    whose ``issuer`` must be exactly the configured one (§4.3)."""

    def __init__(self, issuer: str, *, timeout: float = 10.0, max_age: float = 3600.0) -> None:
        self.issuer = issuer.rstrip("/")
        self.timeout = timeout
        self.max_age = max_age
        self._doc: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def get(self) -> dict[str, Any]:
        with self._lock:
            if self._doc is None or time.monotonic() - self._fetched_at > self.max_age:
                self._doc = self._fetch()
                self._fetched_at = time.monotonic()
            return self._doc

    def _fetch(self) -> dict[str, Any]:
        try:
            response = httpx.get(self.url, timeout=self.timeout, verify=SSL_CONTEXT)
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"discovery failed: {exc}") from exc
        check_metadata(doc, self.issuer)
        return doc  # type: ignore[no-any-return]


def check_metadata(doc: object, issuer: str) -> None:
    if not isinstance(doc, dict) or doc.get("issuer") != issuer:
        found = doc.get("issuer") if isinstance(doc, dict) else None
        raise ProviderUnavailable(f"discovery issuer {found!r} is not {issuer!r}")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(doc.get(name), str):
            raise ProviderUnavailable(f"discovery has no {name}")


def _header(token: str) -> dict[str, Any]:
    try:
        segment = token.split(".")[0]
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = json.loads(raw)
    except (ValueError, IndexError) as exc:
        raise JoseError("malformed token") from exc
    if not isinstance(header, dict):
        raise JoseError("malformed token header")
    return header


class JWKSCache:
    def __init__(
        self, discovery: Discovery, *, min_refetch_interval: float = 10.0, timeout: float = 10.0
    ) -> None:
        self.discovery = discovery
        self.min_refetch_interval = min_refetch_interval
        self.timeout = timeout
        self._keys: KeySet | None = None
        self._kids: set[str] = set()
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        uri = self.discovery.get()["jwks_uri"]
        try:
            response = httpx.get(uri, timeout=self.timeout, verify=SSL_CONTEXT)
            response.raise_for_status()
            data = response.json()
            keys = KeySet.import_key_set(data)
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise ProviderUnavailable(f"JWKS fetch failed: {exc}") from exc
        self._keys = keys
        self._kids = {str(k.get("kid")) for k in data.get("keys", []) if k.get("kid")}
        self._fetched_at = time.monotonic()

    def key_set(self, kid: str | None = None) -> KeySet:
        with self._lock:
            stale = kid is not None and kid not in self._kids
            allowed = time.monotonic() - self._fetched_at >= self.min_refetch_interval
            if self._keys is None or (stale and allowed):
                self._fetch()
            assert self._keys is not None
            return self._keys

    def decode(self, token: str) -> jwt.Token:
        """Verify the signature (only asymmetric algorithms); the caller checks the claims.
        Raises :class:`joserfc.errors.JoseError` for any bad token."""
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16_000:
            raise JoseError("not a compact JWS")
        header = _header(token)
        if header.get("alg") not in ALGORITHMS:
            raise JoseError(f"algorithm {header.get('alg')!r} not accepted")
        kid = header.get("kid")
        keys = self.key_set(kid if isinstance(kid, str) else None)
        return jwt.decode(token, keys, algorithms=list(ALGORITHMS))
