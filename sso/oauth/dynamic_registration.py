"""OAuth 2.0 Dynamic Client Registration (RFC 7591) and its Management Protocol (RFC 7592).

The HTTP side is :mod:`sso.developers.registration_api`; here are the rules. Metadata is checked
field by field and refused with the RFC's codes: ``invalid_redirect_uri`` for a bad redirect
URI (:mod:`sso.oauth.redirect_uris`: https, the loopback and private-use-scheme exceptions for
``application_type: native`` only — loopback also for web apps in a development deployment —,
no wildcards or fragments), ``invalid_client_metadata`` for
everything else (unknown grant types, inconsistent ``response_types``, a public client asking
for client credentials, a scope that is not self-service — ``nik`` needs an admin —, ``jwks``
together with ``jwks_uri``, a URL the SSRF guard refuses). Values we choose are returned in
the response (RFC 7591 §3.2.1), so a client sees what it really got.

``private_key_jwt`` needs the keys inline (``jwks``): the provider does not fetch ``jwks_uri``
(a URL fetched on every client authentication is an SSRF and availability risk); a
``jwks_uri`` is still checked by the guard and kept as metadata.

The registration access token (RFC 7592 §3) is random, shown once in the registration response
and stored only as a keyed hash in ``clients.registration_access_token_hash``; it reads,
replaces (``PUT`` is a full replacement: fields left out return to their defaults, §2.2) and
deletes only its own client. The kind of app (web, spa, native, m2m) follows from the metadata
and is kept, as in the developer portal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.crypto import constant_time_equals, keyed_hash, random_token
from sso.core.events import Event
from sso.db.models import Client, InitialAccessToken
from sso.oauth import clients as client_service
from sso.oauth import developer_apps
from sso.oauth import redirect_uris as redirect_rules
from sso.oauth.url_guard import UnsafeURL, check_client_url
from sso.storage import audit
from sso.storage import clients as client_repo
from sso.storage import registrations as repo

RAT_PURPOSE = "registration_access_token"
URL_FIELDS = ("logo_uri", "client_uri", "policy_uri", "tos_uri", "jwks_uri")
SUPPORTED_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
MAX_CONTACTS = 10


class RegistrationError(Exception):
    """An RFC 7591 §3.2.2 error response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _bad(description: str) -> RegistrationError:
    return RegistrationError("invalid_client_metadata", description)


@dataclass
class Metadata:
    kind: str
    spec: client_service.ClientSpec


def _strings(body: dict[str, Any], name: str, limit: int = 50) -> list[str]:
    value = body.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{name} must be an array of strings")
    if len(value) > limit:
        raise _bad(f"{name} has too many values")
    return list(dict.fromkeys(value))


def _string(body: dict[str, Any], name: str, limit: int = 2000) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"{name} must be a string of at most {limit} characters")
    return value


def _kind(body: dict[str, Any], grants: list[str], method: str) -> str:
    application_type = body.get("application_type", "web")
    if application_type not in ("web", "native"):
        raise _bad("application_type must be web or native")
    if grants == ["client_credentials"]:
        return "m2m"
    if "client_credentials" in grants:
        raise _bad("client_credentials cannot be combined with other grant types")
    if application_type == "native":
        return "native"
    return "spa" if method == "none" else "web"


def _grants_and_method(body: dict[str, Any]) -> tuple[list[str], str]:
    grants = _strings(body, "grant_types") or ["authorization_code"]
    unknown = [g for g in grants if g not in SUPPORTED_GRANTS]
    if unknown:
        raise _bad(f"unsupported grant type {unknown[0]!r}")
    responses = _strings(body, "response_types")
    if "authorization_code" in grants:
        if responses not in ([], ["code"]):
            raise _bad('response_types must be ["code"] (the only response type supported)')
    elif responses:
        raise _bad("response_types need the authorization_code grant")
    method = _string(body, "token_endpoint_auth_method", 40) or "client_secret_basic"
    if method not in client_service.AUTH_METHODS:
        raise _bad(f"unsupported token_endpoint_auth_method {method!r}")
    if method == "none" and "client_credentials" in grants:
        raise _bad("a public client (auth method none) cannot use client_credentials")
    return grants, method


def _jwks(body: dict[str, Any], method: str) -> dict[str, Any] | None:
    jwks = body.get("jwks")
    if jwks is not None and body.get("jwks_uri") is not None:
        raise _bad("jwks and jwks_uri are mutually exclusive (RFC 7591 §2)")
    if jwks is not None:
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise _bad("jwks must be a JWK Set")
        if any(not isinstance(k, dict) or "d" in k or k.get("kty") == "oct" for k in jwks["keys"]):
            raise _bad("jwks must hold public keys only")
        try:
            KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise _bad("jwks is not a valid JWK Set") from exc
    if method == "private_key_jwt" and jwks is None:
        raise _bad("private_key_jwt needs jwks (jwks_uri is not fetched by this server)")
    return jwks


def parse(body: Any, settings: Settings, *, in_development: bool = False) -> Metadata:
    """Checked metadata of a registration or replacement request (raises RegistrationError);
    ``in_development``: the client being replaced is marked so (loopback http allowed)."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    grants, method = _grants_and_method(body)
    kind = _kind(body, grants, method)
    redirect_uris = _strings(body, "redirect_uris", developer_apps.MAX_REDIRECT_URIS)
    post_logout = _strings(body, "post_logout_redirect_uris", developer_apps.MAX_REDIRECT_URIS)
    if "authorization_code" in grants and not redirect_uris:
        raise RegistrationError("invalid_redirect_uri", "redirect_uris is required")
    if kind == "m2m" and (redirect_uris or post_logout):
        raise RegistrationError(
            "invalid_redirect_uri", "client_credentials clients redirect nowhere"
        )
    for uri in redirect_uris + post_logout:
        reason = redirect_rules.problem(
            uri, native=kind == "native", dev=settings.env == "dev", in_development=in_development
        )
        if reason:
            raise RegistrationError(
                "invalid_redirect_uri", f"{uri[:200]}: {redirect_rules.REASONS[reason]}"
            )
    scope_text = _string(body, "scope", 500)
    scopes = scope_text.split() if scope_text is not None else ["openid", "profile", "email"]
    if kind != "m2m":
        for scope in scopes:
            if scope in developer_apps.FORBIDDEN_SCOPES:
                raise _bad("the nik scope is granted only by an administrator")
            if scope not in developer_apps.DEVELOPER_SCOPES:
                raise _bad(f"scope {scope[:50]!r} is not available")
    name = (_string(body, "client_name", 200) or "").strip()
    if not name:
        raise _bad("client_name is required")
    urls: dict[str, str | None] = {}
    for field_name in (*URL_FIELDS, "backchannel_logout_uri"):
        value = _string(body, field_name)
        if value is not None:
            if field_name == "backchannel_logout_uri" and kind == "m2m":
                raise _bad("backchannel_logout_uri needs a client that logs people in")
            try:
                check_client_url(settings, value)
            except UnsafeURL as exc:
                raise _bad(f"{field_name}: {exc.reason}") from exc
        urls[field_name] = value
    contacts = _strings(body, "contacts", MAX_CONTACTS)
    if any(len(c) > 254 or "@" not in c for c in contacts):
        raise _bad("contacts must be email addresses")
    session_required = body.get("backchannel_logout_session_required", True)
    alg = body.get("id_token_signed_response_alg")  # omitted: SSO_DEFAULT_SIGNING_ALG applies
    if not isinstance(session_required, bool):
        raise _bad("backchannel_logout_session_required must be a boolean")
    if alg is not None and alg not in client_service.SIGNING_ALGS:
        raise _bad("id_token_signed_response_alg must be RS256 or ES256")
    public = method == "none"
    chosen = [s for s in developer_apps.DEVELOPER_SCOPES if s in scopes and s != "openid"]
    spec = client_service.ClientSpec(
        name=name,
        description=(_string(body, "description", 2000) or "").strip(),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout,
        grant_types=grants,
        scope="" if kind == "m2m" else " ".join(["openid", *chosen]),
        token_endpoint_auth_method=method,
        public=public,
        backchannel_logout_uri=urls["backchannel_logout_uri"],
        backchannel_logout_session_required=session_required,
        id_token_signed_response_alg=None if alg is None else str(alg),
        jwks=_jwks(body, method),
        app_kind=kind,
        contacts=contacts,
        logo_uri=urls["logo_uri"],
        client_uri=urls["client_uri"],
        policy_uri=urls["policy_uri"],
        tos_uri=urls["tos_uri"],
        jwks_uri=urls["jwks_uri"],
    )
    return Metadata(kind, spec)


def response_of(client: Client, settings: Settings) -> dict[str, Any]:
    """The client's registered metadata as RFC 7591 §3.2.1 returns it (no secrets)."""
    body: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "grant_types": list(client.grant_types or []),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "application_type": "native" if client.app_kind == "native" else "web",
        "scope": client.scope,
        "contacts": list(client.contacts or []),
        # The algorithm its ID tokens get now (RFC 7591 §3.2.1: values the server provisioned).
        "id_token_signed_response_alg": (
            client.id_token_signed_response_alg or settings.default_signing_alg
        ),
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "registration_client_uri": f"{settings.issuer_url}/oauth2/register/{client.client_id}",
        "status": client.status,
    }
    if client.client_secret_hash:
        body["client_secret_expires_at"] = 0  # never expires (rotated on request)
    for name in (*URL_FIELDS, "backchannel_logout_uri"):
        if getattr(client, name):
            body[name] = getattr(client, name)
    if client.jwks:
        body["jwks"] = client.jwks
    return body


def _rat_hash(settings: Settings, token: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), token, RAT_PURPOSE)


def register(
    session: Session, settings: Settings, meta: Metadata, token: InitialAccessToken
) -> dict[str, Any]:
    """Create the client; the response carries the secret and access token, once."""
    spec = meta.spec
    spec.status = "active" if token.approve_clients else "pending"
    created = client_service.register(session, settings.secret_key_bytes(), spec, env=settings.env)
    rat = random_token(RAT_PURPOSE)
    client_repo.set_registration_token_hash(session, created.client, _rat_hash(settings, rat))
    audit.record(
        session,
        Event.CLIENT_REGISTERED,
        target_type="client",
        target_id=created.client.client_id,
        client_id=created.client.client_id,
        initial_access_token_id=token.id,
        status=spec.status,
    )
    body = response_of(created.client, settings)
    if created.client_secret:
        body["client_secret"] = created.client_secret
    body["registration_access_token"] = rat
    return body


def authorized_client(
    session: Session, settings: Settings, client_id: str, token: str | None
) -> Client | None:
    """The client ``client_id`` when ``token`` is its registration access token, else None
    (RFC 7592 §3: one answer, 401, whether the client exists or the token is wrong)."""
    if not token or len(token) > 200:
        return None
    client = repo.client_by_registration_token(session, _rat_hash(settings, token))
    if client is None or not constant_time_equals(client.client_id, client_id[:64]):
        return None
    return client


def replace(session: Session, settings: Settings, client: Client, body: Any) -> dict[str, Any]:
    """RFC 7592 §2.2: replace the client's metadata with ``body`` (which names the client)."""
    if not isinstance(body, dict) or body.get("client_id") != client.client_id:
        raise _bad("client_id in the body must be the client's")
    secret = body.get("client_secret")
    if secret is not None and not (
        isinstance(secret, str)
        and client_service.check_secret(settings.secret_key_bytes(), client, secret)
    ):
        raise _bad("client_secret does not match")
    meta = parse(body, settings, in_development=client.in_development)
    spec = meta.spec
    if spec.public != client.is_public or meta.kind != client.app_kind:
        raise _bad("the kind of client (public or confidential, application type) cannot change")
    method = spec.token_endpoint_auth_method or "client_secret_basic"
    if method.startswith("client_secret_") and not client.client_secret_hash:
        raise _bad("this client has no secret: keep its token_endpoint_auth_method")
    client_repo.update_client(
        session,
        client,
        name=spec.name,
        description=spec.description,
        scope=spec.scope,
        backchannel_logout_uri=spec.backchannel_logout_uri,
        jwks=spec.jwks,
        backchannel_logout_session_required=spec.backchannel_logout_session_required,
        id_token_signed_response_alg=spec.id_token_signed_response_alg,
        logo_uri=spec.logo_uri,
        client_uri=spec.client_uri,
        policy_uri=spec.policy_uri,
        tos_uri=spec.tos_uri,
        jwks_uri=spec.jwks_uri,
        redirect_uris=spec.redirect_uris,
        post_logout_redirect_uris=spec.post_logout_redirect_uris,
        grant_types=spec.grant_types,
        token_endpoint_auth_method=method,
        contacts=spec.contacts,
    )
    audit.record(
        session,
        Event.CLIENT_UPDATED,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        by="dynamic_registration",
    )
    return response_of(client, settings)
