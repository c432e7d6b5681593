"""The OAuth 2.0 Device Authorization Grant (RFC 8628), client side, for devices without a
usable browser (smart TVs, kiosks).

- :meth:`DeviceFlow.start` asks the provider's ``device_authorization_endpoint`` (from
  discovery) for a ``device_code`` and the ``user_code`` the device shows, authenticating as
  at /token (``client_secret_basic``).
- :meth:`DeviceFlow.poll` asks /token once with the device code and says what came back:
  ``pending``, ``slow_down`` (the caller adds 5 s to its interval, §3.5), ``denied``,
  ``expired``, ``error`` or ``tokens``.
- :meth:`DeviceFlow.validate_id_token` checks the ID token that comes with the tokens
  (signature from the JWKS, ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``sub``). There is no
  ``nonce`` in this grant: the token comes straight from the token endpoint over TLS.

The caller keeps the device code secret (it is a bearer credential until it is used) and
polls no more often than ``interval`` seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from joserfc.errors import JoseError

from tangsel_rp.jwks import Discovery, JWKSCache, ProviderUnavailable
from tangsel_rp.settings import RPSettings
from tangsel_rp.tls import SSL_CONTEXT

log = logging.getLogger("tangsel_rp.device")

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5

Outcome = Literal["pending", "slow_down", "denied", "expired", "error", "tokens"]


class DeviceFlowError(Exception):
    """The provider refused to start a device authorization (``code`` is its error code)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


@dataclass(frozen=True)
class PollResult:
    outcome: Outcome
    tokens: dict[str, Any] = field(default_factory=dict, repr=False)
    error: str | None = None


class DeviceFlow:
    def __init__(self, settings: RPSettings, discovery: Discovery, jwks: JWKSCache) -> None:
        self.settings = settings
        self.discovery = discovery
        self.jwks = jwks

    def _auth(self) -> tuple[str, str]:
        return self.settings.client_id, self.settings.client_secret.get_secret_value()

    def _post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return httpx.post(
            url,
            data=data,
            auth=self._auth(),
            timeout=self.settings.http_timeout,
            verify=SSL_CONTEXT,
            headers={"Accept": "application/json"},
        )

    def start(self, scope: str) -> DeviceStart:
        """Raises :class:`DeviceFlowError` (``provider_unavailable`` when unreachable)."""
        try:
            endpoint = self.discovery.get().get("device_authorization_endpoint")
        except ProviderUnavailable as exc:
            raise DeviceFlowError("provider_unavailable", str(exc)) from exc
        if not isinstance(endpoint, str) or not endpoint:
            raise DeviceFlowError("unsupported", "no device_authorization_endpoint")
        try:
            response = self._post(endpoint, {"scope": scope})
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DeviceFlowError("provider_unavailable", str(exc)) from exc
        if response.status_code != 200 or not isinstance(body, dict):
            code = body.get("error") if isinstance(body, dict) else None
            raise DeviceFlowError(str(code or "server_error"), f"HTTP {response.status_code}")
        try:
            complete = body.get("verification_uri_complete")
            return DeviceStart(
                device_code=str(body["device_code"]),
                user_code=str(body["user_code"]),
                verification_uri=str(body["verification_uri"]),
                verification_uri_complete=str(complete) if complete else None,
                expires_in=int(body["expires_in"]),
                interval=max(int(body.get("interval") or 5), 1),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DeviceFlowError("invalid_response", str(exc)) from exc

    def poll(self, device_code: str) -> PollResult:
        """One request to the token endpoint; never raises for the provider's answers."""
        try:
            endpoint = self.discovery.get()["token_endpoint"]
            response = self._post(
                endpoint, {"grant_type": DEVICE_GRANT, "device_code": device_code}
            )
            body = response.json()
        except (httpx.HTTPError, ValueError, KeyError, ProviderUnavailable) as exc:
            log.warning("device poll failed: %s", exc)
            return PollResult("pending", error="provider_unavailable")  # try again later
        if not isinstance(body, dict):
            return PollResult("error", error="invalid_response")
        if response.status_code == 200 and body.get("access_token"):
            return PollResult("tokens", tokens=body)
        error = str(body.get("error") or "server_error")
        outcome: Outcome = {
            "authorization_pending": "pending",
            "slow_down": "slow_down",
            "access_denied": "denied",
            "expired_token": "expired",
        }.get(error, "error")  # type: ignore[assignment]
        return PollResult(outcome, error=error)

    def validate_id_token(self, id_token: str) -> dict[str, Any]:
        """The ID token's claims, once checked; raises :class:`DeviceFlowError`
        (``invalid_token``) otherwise."""
        try:
            claims = dict(self.jwks.decode(id_token).claims)
        except (JoseError, ProviderUnavailable, ValueError) as exc:
            raise DeviceFlowError("invalid_token", str(exc)) from exc
        now = time.time()
        skew = self.settings.clock_skew
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        problems = []
        if claims.get("iss") != self.settings.oidc_issuer:
            problems.append("iss")
        if self.settings.client_id not in auds:
            problems.append("aud")
        if len(auds) > 1 and claims.get("azp") != self.settings.client_id:
            problems.append("azp")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or exp + skew < now:
            problems.append("exp")
        if not isinstance(iat, int | float) or iat - skew > now:
            problems.append("iat")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            problems.append("sub")
        if problems:
            raise DeviceFlowError("invalid_token", "bad " + ", ".join(problems))
        return claims
