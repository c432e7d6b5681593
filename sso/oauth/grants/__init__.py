"""The grants of /token, one module per grant type (RFC 6749 §4.1, §4.4, §6; RFC 8628 §3.4),
on the shared base of :mod:`sso.oauth.grants.base`; :func:`register_grants` puts them on a
server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer

from sso.oauth.grants.authorization_code import PKCE, AuthorizationCodeGrant
from sso.oauth.grants.client_credentials import ClientCredentialsGrant
from sso.oauth.grants.device_code import DeviceCodeGrant
from sso.oauth.grants.refresh_token import RefreshTokenGrant


def register_grants(
    server: AuthorizationServer, *, openid: Callable[[Any], None] | None = None
) -> None:
    """Our four grants; ``openid`` (the OpenID Connect extension) goes on the grants that
    issue tokens for a person: code, refresh and device code. PKCE is on for every code."""
    extra = [openid] if openid is not None else []
    server.register_grant(AuthorizationCodeGrant, [PKCE(required=True), *extra])
    server.register_grant(RefreshTokenGrant, extra)
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(DeviceCodeGrant, extra)


__all__ = [
    "PKCE",
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "DeviceCodeGrant",
    "RefreshTokenGrant",
    "register_grants",
]
