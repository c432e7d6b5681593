"""Logout tokens (OpenID Connect Back-Channel Logout 1.0, §2.4 and §2.6).

The checks run in the order of §2.6: signature with the provider's keys (asymmetric only), an
explicit ``typ`` when present must be ``logout+jwt`` (so an access token cannot be replayed
here), ``iss`` is the provider, ``aud`` names this client, ``iat`` is present and recent,
``exp`` (when present) not passed, a ``jti`` is present, ``events`` has the back-channel
logout member (a JSON object), there is no ``nonce`` (which would make it an ID token), and
at least one of ``sid`` and ``sub`` names whose sessions end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError

from tangsel_rp.jwks import JWKSCache, ProviderUnavailable

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPES = ("logout+jwt", "application/logout+jwt", "jwt")


class InvalidLogoutToken(Exception):
    """The token is refused; the message says why (it goes back in the 400 response)."""


@dataclass(frozen=True)
class LogoutRequest:
    sid: str | None
    sub: str | None
    claims: dict[str, Any]


class LogoutTokenValidator:
    def __init__(
        self,
        jwks: JWKSCache,
        issuer: str,
        client_id: str,
        *,
        max_age: int = 3600,
        leeway: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.client_id = client_id
        self.max_age = max_age
        self.leeway = leeway
        self.clock = clock

    def validate(self, token: str) -> LogoutRequest:
        try:
            decoded = self.jwks.decode(token)
        except ProviderUnavailable as exc:
            raise InvalidLogoutToken("cannot fetch the provider's keys") from exc
        except JoseError as exc:
            raise InvalidLogoutToken("malformed token or bad signature") from exc
        typ = decoded.header.get("typ")
        if typ is not None and str(typ).lower() not in LOGOUT_TOKEN_TYPES:
            raise InvalidLogoutToken(f"typ {typ!r} is not a logout token")
        claims = dict(decoded.claims)
        if claims.get("iss") != self.issuer:
            raise InvalidLogoutToken("wrong issuer")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.client_id not in auds:
            raise InvalidLogoutToken("wrong audience")
        now = self.clock()
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise InvalidLogoutToken("no iat")
        if iat > now + self.leeway or iat < now - self.max_age:
            raise InvalidLogoutToken("iat too far from now")
        exp = claims.get("exp")
        if exp is not None and (not isinstance(exp, int | float) or exp <= now - self.leeway):
            raise InvalidLogoutToken("expired")
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise InvalidLogoutToken("no jti")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(
            events.get(BACKCHANNEL_LOGOUT_EVENT), dict
        ):
            raise InvalidLogoutToken("events has no back-channel logout member")
        if "nonce" in claims:
            raise InvalidLogoutToken("a logout token carries no nonce")
        sid, sub = claims.get("sid"), claims.get("sub")
        sid = sid if isinstance(sid, str) and sid else None
        sub = sub if isinstance(sub, str) and sub else None
        if sid is None and sub is None:
            raise InvalidLogoutToken("neither sid nor sub")
        return LogoutRequest(sid=sid, sub=sub, claims=claims)
