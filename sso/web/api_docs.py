"""The OpenAPI description of the JSON endpoints (``/openapi.json``).

The routes read their bodies themselves (Authlib parses the form), so FastAPI cannot infer
request or response shapes: they are declared here, as the specifications define them, and
attached to the routes with ``**TOKEN`` etc. Relying-party developers read this description,
and ``tests/security/test_fuzzing.py`` (schemathesis) checks every answer against it.

Objects allow additional properties: a provider may add members (RFC 6749 §5.1, RFC 7662
§2.2, RFC 8414 §2), and relying parties must ignore what they do not understand.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

FORM = "application/x-www-form-urlencoded"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class OAuthError(_Open):
    """RFC 6749 §5.2 (also RFC 6750 §3 and RFC 8628 §3.5)."""

    error: str
    error_description: str | None = None
    error_uri: str | None = None


class BearerError(_Open):
    """RFC 6750 §3: empty when no token was sent, otherwise an error code."""

    error: str | None = None
    error_description: str | None = None


class TokenResponse(_Open):
    """RFC 6749 §5.1, with the ID token of OpenID Connect Core §3.1.3.3."""

    access_token: str
    token_type: str = Field(description="Always Bearer.")
    expires_in: int | None = None
    refresh_token: str | None = None
    scope: str | None = None
    id_token: str | None = None


class IntrospectionResponse(_Open):
    """RFC 7662 §2.2: ``active`` and, for an active token, its claims."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    username: str | None = None
    token_type: str | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    sub: str | None = None
    aud: str | list[str] | None = None
    iss: str | None = None
    jti: str | None = None


class UserInfo(_Open):
    """OpenID Connect Core §5.3.2: ``sub`` and the claims the scopes allow."""

    sub: str


class DeviceAuthorizationResponse(_Open):
    """RFC 8628 §3.2."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    expires_in: int
    interval: int | None = None


class ProviderMetadata(_Open):
    """OpenID Connect Discovery 1.0 §3 and RFC 8414 §2 (only the required members here)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    response_types_supported: list[str]


class JWK(_Open):
    """RFC 7517 §4: public keys only (no private members are ever published)."""

    kty: str
    kid: str
    use: str | None = None
    alg: str | None = None


class JWKSet(BaseModel):
    """RFC 7517 §5."""

    keys: list[JWK]


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


def _form(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {"requestBody": {"required": True, "content": {FORM: {"schema": schema}}}}


_STRING = {"type": "string"}
_CLIENT_AUTH = {
    "client_id": _STRING,
    "client_secret": _STRING,
    "client_assertion_type": _STRING,
    "client_assertion": _STRING,
}
_TOO_MANY = _json(OAuthError, "Too many attempts or requests; see Retry-After.")
_BUSY = _json(OAuthError, "Overloaded or the database is unreachable; see Retry-After.")
_REFUSED = _json(OAuthError, "The request is malformed or refused (error codes of the RFC).")
_CLIENT = _json(OAuthError, "Client authentication failed (invalid_client).")

TOKEN: dict[str, Any] = {
    "summary": "Token endpoint (RFC 6749 §3.2, OpenID Connect Core §3.1.3)",
    "response_model": None,
    "responses": {
        200: _json(TokenResponse, "Tokens issued."),
        400: _REFUSED,
        401: _CLIENT,
        413: _REFUSED,
        429: _TOO_MANY,
        503: _BUSY,
    },
    "openapi_extra": _form(
        {
            "grant_type": {
                "type": "string",
                "enum": [
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                    "urn:ietf:params:oauth:grant-type:device_code",
                ],
            },
            "code": _STRING,
            "redirect_uri": _STRING,
            "code_verifier": _STRING,
            "refresh_token": _STRING,
            "scope": _STRING,
            "device_code": _STRING,
            **_CLIENT_AUTH,
        },
        ("grant_type",),
    ),
}

INTROSPECT: dict[str, Any] = {
    "summary": "Token introspection (RFC 7662), for confidential clients",
    "response_model": None,
    "responses": {
        200: _json(IntrospectionResponse, "Whether the token is active, and its claims."),
        400: _REFUSED,
        401: _CLIENT,
        413: _REFUSED,
        429: _TOO_MANY,
        503: _BUSY,
    },
    "openapi_extra": _form(
        {"token": _STRING, "token_type_hint": _STRING, **_CLIENT_AUTH}, ("token",)
    ),
}

REVOKE: dict[str, Any] = {
    "summary": "Token revocation (RFC 7009)",
    "response_model": None,
    "responses": {
        200: {"description": "Revoked, or the token was unknown (RFC 7009 §2.2)."},
        400: _REFUSED,
        401: _CLIENT,
        413: _REFUSED,
        429: _TOO_MANY,
        503: _BUSY,
    },
    "openapi_extra": _form(
        {"token": _STRING, "token_type_hint": _STRING, **_CLIENT_AUTH}, ("token",)
    ),
}

_BEARER_ERROR = _json(BearerError, "RFC 6750 §3 error; see WWW-Authenticate.")
USERINFO: dict[str, Any] = {
    "summary": "UserInfo endpoint (OpenID Connect Core §5.3)",
    "response_model": None,
    "responses": {
        200: _json(UserInfo, "Claims about the person the access token was issued for."),
        400: _BEARER_ERROR,
        401: _BEARER_ERROR,
        403: _BEARER_ERROR,
        429: _TOO_MANY,
        503: _BUSY,
    },
    "openapi_extra": {
        "security": [{"bearer": []}],
        "requestBody": {
            "required": False,
            "content": {
                FORM: {"schema": {"type": "object", "properties": {"access_token": _STRING}}}
            },
        },
    },
}

DEVICE_AUTHORIZATION: dict[str, Any] = {
    "summary": "Device authorization request (RFC 8628 §3.1)",
    "response_model": None,
    "responses": {
        200: _json(DeviceAuthorizationResponse, "Codes for the device and the person."),
        400: _REFUSED,
        401: _CLIENT,
        413: _REFUSED,
        429: _TOO_MANY,
        503: _BUSY,
    },
    "openapi_extra": _form({"scope": _STRING, **_CLIENT_AUTH}, ("client_id",)),
}

DISCOVERY: dict[str, Any] = {
    "response_model": None,
    "responses": {200: _json(ProviderMetadata, "Provider metadata.")},
}


class JWKSetResponse(JSONResponse):
    media_type = "application/jwk-set+json"


JWKS: dict[str, Any] = {
    "summary": "The provider's public signing keys (RFC 7517)",
    "response_model": None,
    "response_class": JWKSetResponse,
    "responses": {200: _json(JWKSet, "The key set.")},
}
