"""Provider metadata: OpenID Connect Discovery 1.0 and RFC 8414, built once per process.

Both documents come from one function so they cannot disagree, and every value here is
something the server really does (tests exercise each advertised value)."""

from __future__ import annotations

import json
from typing import Any

from sso.config import Settings
from sso.oauth.assertions import ALGORITHMS as ASSERTION_ALGS
from sso.oauth.clients import AUTH_METHODS, GRANT_TYPES, SCOPES, SIGNING_ALGS

CLAIMS_SUPPORTED = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "sid",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "locale",
    "updated_at",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "opd",
    "position",
    "nip",
    "roles",
    "nik",
    "nik_verified",
]


def metadata(settings: Settings) -> dict[str, Any]:
    iss = settings.issuer_url
    endpoint_auth = [m for m in AUTH_METHODS]
    return {
        "issuer": iss,
        "authorization_endpoint": f"{iss}/authorize",
        "token_endpoint": f"{iss}/token",
        "userinfo_endpoint": f"{iss}/userinfo",
        "jwks_uri": f"{iss}/jwks.json",
        "end_session_endpoint": f"{iss}/logout",
        "introspection_endpoint": f"{iss}/introspect",
        "revocation_endpoint": f"{iss}/revoke",
        "device_authorization_endpoint": f"{iss}/device_authorization",  # RFC 8628 §4
        "registration_endpoint": f"{iss}/oauth2/register",  # RFC 7591 §3 (initial access token)
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SIGNING_ALGS),
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": endpoint_auth,
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "introspection_endpoint_auth_methods_supported": [m for m in endpoint_auth if m != "none"],
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "revocation_endpoint_auth_methods_supported": endpoint_auth,
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS_SUPPORTED,
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "prompt_values_supported": ["none", "login", "consent", "select_account", "create"],
        "ui_locales_supported": ["id", "en"],
        "claims_locales_supported": ["id", "en"],
        "acr_values_supported": ["0", "1", "2"],
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "service_documentation": f"{iss}/",
    }


def documents(settings: Settings) -> tuple[bytes, bytes]:
    """(openid-configuration, oauth-authorization-server) as ready-to-send JSON bytes."""
    oidc = metadata(settings)
    oauth = {k: v for k, v in oidc.items()}
    return json.dumps(oidc).encode(), json.dumps(oauth).encode()
