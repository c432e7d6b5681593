"""JWT access tokens from Tangsel SSO, checked locally with the provider's JWKS (RFC 9068),
with the RFC 6750 error responses.

A token is accepted only when: the signature verifies with a published key (asymmetric
algorithm); the header ``typ`` is ``at+jwt`` (so an ID token or a logout token cannot pass as
an access token, RFC 9068 §4); ``iss`` is the provider; ``aud`` names one of the audiences
this API accepts; ``exp`` is in the future and ``iat`` not in the future (both with a small
leeway); ``sub`` and ``client_id`` are present; ``scope`` holds the scope the route needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError

from tangsel_rp.jwks import JWKSCache, ProviderUnavailable

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")


class BearerError(Exception):
    """An RFC 6750 refusal; ``error`` None means "no credentials" (a bare challenge)."""

    def __init__(
        self,
        status: int,
        error: str | None,
        description: str = "",
        scope: str | None = None,
    ) -> None:
        super().__init__(description or error or "unauthorized")
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope

    def challenge(self, realm: str) -> str:
        parts = [f'realm="{realm}"']
        if self.error:
            parts.append(f'error="{self.error}"')
        if self.description:
            parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)

    def body(self) -> dict[str, str]:
        if not self.error:
            return {"error": "unauthorized", "error_description": "Bearer token required."}
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class AccessToken:
    claims: dict[str, Any]

    @property
    def sub(self) -> str:
        return str(self.claims["sub"])

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])

    @property
    def scopes(self) -> frozenset[str]:
        scope = self.claims.get("scope", "")
        return frozenset(scope.split()) if isinstance(scope, str) else frozenset()

    @property
    def is_machine(self) -> bool:
        """client_credentials: the client acts for itself (``sub`` is its client_id)."""
        return self.sub == self.client_id


def _invalid(description: str) -> BearerError:
    return BearerError(401, "invalid_token", description)


class AccessTokenValidator:
    def __init__(
        self,
        jwks: JWKSCache,
        issuer: str,
        audiences: Collection[str],
        *,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audiences = frozenset(audiences)
        self.leeway = leeway
        self.clock = clock

    def validate(self, token: str) -> AccessToken:
        try:
            decoded = self.jwks.decode(token)
        except ProviderUnavailable as exc:
            raise BearerError(503, "temporarily_unavailable", "Cannot check tokens now.") from exc
        except JoseError as exc:
            raise _invalid("The token is malformed or its signature is not valid.") from exc
        typ = str(decoded.header.get("typ", "")).lower()
        if typ not in ACCESS_TOKEN_TYPES:
            raise _invalid("Not an access token (typ must be at+jwt).")
        claims = dict(decoded.claims)
        if claims.get("iss") != self.issuer:
            raise _invalid("The token was issued by someone else.")
        aud = claims.get("aud")
        auds = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        if not auds & self.audiences:
            raise _invalid("The token is not meant for this API.")
        now = self.clock()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise _invalid("The token has no expiry.")
        if exp <= now - self.leeway:
            raise _invalid("The token has expired.")
        if not isinstance(iat, int | float) or iat > now + self.leeway:
            raise _invalid("The token's issue time is not valid.")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > now + self.leeway:
            raise _invalid("The token is not valid yet.")
        if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("client_id"), str):
            raise _invalid("The token has no sub or client_id.")
        return AccessToken(claims)

    def authenticate(self, authorization: str | None, scope: str) -> AccessToken:
        """The checked token of an ``Authorization: Bearer …`` header holding ``scope``."""
        if not authorization:
            raise BearerError(401, None)
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BearerError(401, None)
        token = self.validate(value.strip())
        if scope not in token.scopes:
            raise BearerError(
                403, "insufficient_scope", f"The token lacks the {scope} scope.", scope=scope
            )
        return token
