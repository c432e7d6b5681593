"""Client registration rules and client secret checks.

Redirect URIs follow :mod:`sso.oauth.redirect_uris` (the rules every registration path shares).
Secrets are random, shown once, stored as keyed hashes.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.core.crypto import constant_time_equals, keyed_hash, random_token
from sso.core.errors import Conflict, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import Client
from sso.oauth import redirect_uris
from sso.storage import audit
from sso.storage import clients as client_repo

GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",  # RFC 8628 (sso.oauth.device)
)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SIGNING_ALGS = ("RS256", "ES256")
SCOPES = ("openid", "profile", "email", "phone", "offline_access", "opd", "roles", "nik")
# A client_id given by an operator: URL-safe, and never starting with "-" (an option to a CLI).
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{2,63}$")
# A secret given by an operator rather than generated must be at least as long as the shortest
# one we would accept from a password manager: 32 characters (≥ 128 bits when random).
MIN_GIVEN_SECRET_LENGTH = 32
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")  # RFC 6749 §3.3 scope-token


def validate_scope(scope: str) -> str:
    tokens = scope.split()
    for token in tokens:
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidInput("error.scope_invalid", detail=f"bad scope token {token!r}")
    return " ".join(dict.fromkeys(tokens))


@dataclass
class ClientSpec:
    name: str
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code", "refresh_token"])
    scope: str = "openid profile email"
    token_endpoint_auth_method: str | None = None
    public: bool = False
    trusted: bool = False
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = True
    # None: no choice made; SSO_DEFAULT_SIGNING_ALG applies when signing.
    id_token_signed_response_alg: str | None = None
    jwks: dict[str, object] | None = None
    owner_id: str | None = None
    status: str = "active"
    description: str = ""
    # Developer portal / RFC 7591 metadata (URLs checked by the caller with sso.oauth.url_guard).
    app_kind: str | None = None
    logo_uri: str | None = None
    client_uri: str | None = None
    policy_uri: str | None = None
    tos_uri: str | None = None
    jwks_uri: str | None = None
    contacts: list[str] = field(default_factory=list)
    # An app in development may register loopback http redirect URIs (sso.oauth.redirect_uris).
    in_development: bool = False
    # A machine client of the Admin API limited to this agency's subtree (issue 16).
    admin_agency_id: int | None = None
    # Given instead of generated (configuration as code, sso.config_code: a rebuilt deployment
    # keeps the identifiers and secrets its relying parties already hold). None: generated.
    client_id: str | None = None
    client_secret: str | None = None


@dataclass(frozen=True)
class RegisteredClient:
    client: Client
    client_secret: str | None


def check_given_secret(secret: str) -> str:
    """A client secret chosen by an operator (not generated): long enough, printable ASCII."""
    if len(secret) < MIN_GIVEN_SECRET_LENGTH or not secret.isascii() or not secret.isprintable():
        raise InvalidInput(
            "error.client_secret_weak",
            detail=f"a given client secret needs {MIN_GIVEN_SECRET_LENGTH}+ printable ASCII "
            "characters",
        )
    return secret


def check_spec(spec: ClientSpec, env: str) -> str:
    """Every registration rule for ``spec``; returns the token endpoint auth method it gets."""
    if spec.client_id is not None and not CLIENT_ID_PATTERN.fullmatch(spec.client_id):
        raise InvalidInput(
            "error.client_id_invalid",
            detail="client_id: 3-64 letters, digits, '.', '_', '~' or '-', not starting with '-'",
        )
    if not spec.name.strip() or len(spec.name) > 200:
        raise InvalidInput(
            "error.client_name_invalid", detail="client name is required (≤200 chars)"
        )
    for grant in spec.grant_types:
        if grant not in GRANT_TYPES:
            raise InvalidInput(
                "error.grant_type_invalid", detail=f"unsupported grant type {grant!r}"
            )
    method = spec.token_endpoint_auth_method or ("none" if spec.public else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise InvalidInput(
            "error.auth_method_invalid", detail=f"unsupported auth method {method!r}"
        )
    if spec.public and method != "none":
        raise InvalidInput(
            "error.auth_method_invalid", detail="public clients use auth method none"
        )
    if not spec.public and method == "none":
        raise InvalidInput("error.auth_method_invalid", detail="method none is for public clients")
    if spec.public and "client_credentials" in spec.grant_types:
        raise InvalidInput(
            "error.grant_type_invalid", detail="public clients cannot use client_credentials"
        )
    if method == "private_key_jwt" and not spec.jwks:
        raise InvalidInput("error.jwks_required", detail="private_key_jwt needs the client's JWKS")
    if "authorization_code" in spec.grant_types and not spec.redirect_uris:
        raise InvalidInput(
            "error.redirect_uri_required", detail="authorization_code needs a redirect URI"
        )
    redirect_uris.check_all(
        spec.redirect_uris + spec.post_logout_redirect_uris,
        native=redirect_uris.is_native(spec.app_kind, spec.public),
        dev=env == "dev",
        in_development=spec.in_development,
    )
    if spec.backchannel_logout_uri:
        parts = urlsplit(spec.backchannel_logout_uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise InvalidInput(
                "error.redirect_uri_invalid",
                detail=f"malformed back-channel logout URI {spec.backchannel_logout_uri!r}",
            )
    alg = spec.id_token_signed_response_alg
    if alg is not None and alg not in SIGNING_ALGS:
        raise InvalidInput(
            "error.alg_invalid", detail="id_token_signed_response_alg: RS256 or ES256"
        )
    validate_scope(spec.scope)
    if spec.admin_agency_id is not None and "client_credentials" not in spec.grant_types:
        raise InvalidInput(
            "error.grant_type_invalid",
            detail="an agency limit is for client_credentials clients of the Admin API",
        )
    return method


_CLIENT_ID_ALPHABET = string.ascii_letters + string.digits


def new_client_id() -> str:
    """A public identifier of letters and digits only: safe in URLs, and never mistaken for a
    command-line option (a leading ``-``) by ``sso clients rotate-secret`` or a client's tools."""
    return "".join(secrets.choice(_CLIENT_ID_ALPHABET) for _ in range(24))


def register(
    session: Session,
    secret_key: bytes,
    spec: ClientSpec,
    *,
    actor_id: str | None = None,
    env: str = "prod",
) -> RegisteredClient:
    """Register ``spec``; ``env`` is ``Settings.env`` (redirect URI rules, sso.oauth.redirect_uris)."""
    method = check_spec(spec, env)
    if spec.client_id is not None and client_repo.get_by_client_id(session, spec.client_id):
        raise Conflict("error.client_id_taken", detail=f"client_id {spec.client_id!r} is taken")
    secret = None
    if not spec.public and method != "private_key_jwt":
        given = spec.client_secret
        secret = check_given_secret(given) if given else random_token("client_secret")
    client = Client(
        client_id=spec.client_id or new_client_id(),
        client_secret_hash=keyed_hash(secret_key, secret, "client_secret") if secret else None,
        secret_rotated_at=now() if secret else None,
        name=spec.name.strip(),
        description=spec.description,
        owner_id=spec.owner_id,
        client_type="public" if spec.public else "confidential",
        redirect_uris=list(dict.fromkeys(spec.redirect_uris)),
        post_logout_redirect_uris=list(dict.fromkeys(spec.post_logout_redirect_uris)),
        grant_types=list(dict.fromkeys(spec.grant_types)),
        scope=validate_scope(spec.scope),
        token_endpoint_auth_method=method,
        jwks=spec.jwks,
        backchannel_logout_uri=spec.backchannel_logout_uri,
        backchannel_logout_session_required=spec.backchannel_logout_session_required,
        id_token_signed_response_alg=spec.id_token_signed_response_alg,
        trusted=spec.trusted,
        status=spec.status,
        app_kind=spec.app_kind,
        logo_uri=spec.logo_uri,
        client_uri=spec.client_uri,
        policy_uri=spec.policy_uri,
        tos_uri=spec.tos_uri,
        jwks_uri=spec.jwks_uri,
        contacts=list(spec.contacts),
        in_development=spec.in_development,
        admin_agency_id=spec.admin_agency_id,
    )
    client_repo.add(session, client)
    audit.record(
        session,
        Event.CLIENT_CREATED,
        actor_id=actor_id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
    )
    return RegisteredClient(client, secret)


def rotate_secret(
    session: Session,
    secret_key: bytes,
    client_id: str,
    *,
    actor_id: str | None = None,
    secret: str | None = None,
) -> str:
    """A new secret for ``client_id`` (``secret`` when given, checked by
    :func:`check_given_secret`; else generated); the old one stops working at once."""
    client = client_repo.get_by_client_id(session, client_id)
    if client is None:
        raise NotFound("error.client_unknown", detail=f"no client {client_id!r}")
    if client.is_public or client.token_endpoint_auth_method == "private_key_jwt":
        raise InvalidInput("error.client_has_no_secret", detail="this client has no secret")
    secret = check_given_secret(secret) if secret else random_token("client_secret")
    client_repo.set_secret_hash(session, client, keyed_hash(secret_key, secret, "client_secret"))
    audit.record(
        session,
        Event.CLIENT_SECRET_ROTATED,
        actor_id=actor_id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
    )
    return secret


def check_secret(secret_key: bytes, client: Client, presented: str) -> bool:
    if not client.client_secret_hash or not presented:
        return False
    return constant_time_equals(
        keyed_hash(secret_key, presented, "client_secret"), client.client_secret_hash
    )
