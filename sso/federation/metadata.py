"""An upstream's discovery document and JWKS, fetched through the SSRF guard and cached.

The document is fetched from ``{issuer}/.well-known/openid-configuration`` and its ``issuer``
must equal the configured one exactly (OIDC Discovery 1.0 §4.3: a provider that names another
issuer is an impostor). Both are kept for :data:`TTL` seconds per worker. An ID token signed
with a ``kid`` the cached JWKS lacks makes one fresh fetch (the upstream rotated its keys),
at most once per :data:`REFETCH_INTERVAL` per upstream, so forged ``kid`` values cannot make us
hammer the upstream.

Outgoing requests use :func:`sso.oauth.pinned_http.pinned_request`: no redirects, no
proxies, only vetted addresses. Private and loopback addresses and plain ``http`` are allowed
only where :func:`sso.oauth.url_guard.allow_private` allows them (dev and test).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from sso import __version__
from sso.config import Settings
from sso.oauth.pinned_http import pinned_request
from sso.oauth.url_guard import UnsafeURL, allow_private

TTL = 3600.0
REFETCH_INTERVAL = 30.0
TIMEOUT = 10.0
MAX_BODY = 512 * 1024


class UpstreamUnavailable(Exception):
    """The upstream did not answer, or answered something unusable (operator detail only)."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    token_auth_methods: tuple[str, ...]
    signing_algs: tuple[str, ...]


def http_call(
    settings: Settings,
    method: str,
    url: str,
    *,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One request to an upstream (or UpstreamUnavailable)."""
    local = allow_private(settings)
    sent = {
        "User-Agent": f"Tangsel-SSO/{__version__} (upstream login)",
        "Accept": "application/json",
        **(headers or {}),
    }
    try:
        response = pinned_request(
            method,
            url,
            private_ok=local,
            http_ok=settings.env in ("dev", "test"),
            data=data,
            headers=sent,
            timeout=TIMEOUT,
        )
    except UnsafeURL as exc:
        raise UpstreamUnavailable(f"refused URL {url}: {exc}") from None
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"{method} {url}: {exc.__class__.__name__}") from None
    if len(response.content) > MAX_BODY:
        raise UpstreamUnavailable(f"{method} {url}: answer too large")
    return response


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise UpstreamUnavailable(f"{what}: HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise UpstreamUnavailable(f"{what}: not JSON") from None
    if not isinstance(body, dict):
        raise UpstreamUnavailable(f"{what}: not a JSON object")
    return body


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def parse_metadata(doc: Mapping[str, Any], issuer: str) -> ProviderMetadata:
    if doc.get("issuer") != issuer:
        raise UpstreamUnavailable("discovery: the document names another issuer")
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = doc.get(name)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise UpstreamUnavailable(f"discovery: no {name}")
        endpoints[name] = value
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        jwks_uri=endpoints["jwks_uri"],
        userinfo_endpoint=doc["userinfo_endpoint"]
        if isinstance(doc.get("userinfo_endpoint"), str)
        else None,
        token_auth_methods=_strings(doc.get("token_endpoint_auth_methods_supported"))
        or ("client_secret_basic",),
        signing_algs=_strings(doc.get("id_token_signing_alg_values_supported")) or ("RS256",),
    )


class MetadataCache:
    """Discovery documents and JWKS of upstreams, per worker process (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._metadata: dict[str, tuple[float, ProviderMetadata]] = {}
        self._jwks: dict[str, tuple[float, dict[str, Any]]] = {}
        self._forced: dict[str, float] = {}

    def metadata(self, issuer: str) -> ProviderMetadata:
        with self._lock:
            cached = self._metadata.get(issuer)
        if cached is not None and time.monotonic() - cached[0] < TTL:
            return cached[1]
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        found = parse_metadata(_json(http_call(self.settings, "GET", url), "discovery"), issuer)
        with self._lock:
            self._metadata[issuer] = (time.monotonic(), found)
        return found

    def jwks(self, meta: ProviderMetadata, *, unknown_kid: bool = False) -> dict[str, Any]:
        """The upstream's key set; ``unknown_kid``: the cached set lacked a token's key, fetch
        it again unless that happened a moment ago."""
        t = time.monotonic()
        with self._lock:
            cached = self._jwks.get(meta.issuer)
            if unknown_kid:
                # One fresh fetch per interval: forged kids cannot make us hammer the upstream.
                if t - self._forced.get(meta.issuer, -REFETCH_INTERVAL) < REFETCH_INTERVAL:
                    unknown_kid = False
                else:
                    self._forced[meta.issuer] = t
        if cached is not None and t - cached[0] < TTL and not unknown_kid:
            return cached[1]
        body = _json(http_call(self.settings, "GET", meta.jwks_uri), "jwks")
        if not isinstance(body.get("keys"), list):
            raise UpstreamUnavailable("jwks: no keys")
        with self._lock:
            self._jwks[meta.issuer] = (time.monotonic(), body)
        return body

    def forget(self, issuer: str) -> None:
        """Drop what is cached of an upstream (its registration changed)."""
        with self._lock:
            self._metadata.pop(issuer, None)
            self._jwks.pop(issuer, None)
