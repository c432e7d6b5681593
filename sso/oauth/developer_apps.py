"""Apps that developers register themselves, and their review by an admin (issue 5).

Any *verified* account may register apps: staff (vetted by their agency) and citizens whose
email address is verified — an address that bounces is nobody to contact about a misbehaving
app. What a developer picks as the app's type decides the OAuth settings, as Keycloak's
"client authentication" switch and authentik's provider types do:

=========  ============  ==========================  ==========================================
kind       client_type   token_endpoint_auth_method  grant_types
=========  ============  ==========================  ==========================================
web        confidential  client_secret_basic         authorization_code, refresh_token (+ PKCE)
spa        public        none                        authorization_code, refresh_token, PKCE
native     public        none                        authorization_code, refresh_token, PKCE
m2m        confidential  client_secret_basic         client_credentials only
=========  ============  ==========================  ==========================================

Public clients cannot keep a secret, so the provider requires PKCE (S256) from them at
``/authorize``; web apps are shown PKCE in their examples too (OAuth 2.0 Security BCP).

Redirect URIs follow :mod:`sso.oauth.redirect_uris` (shared with the CLI, the admin console,
Dynamic Client Registration and ``/authorize``): ``https``; the loopback exception and
private-use schemes for native apps only; ``http://127.0.0.1``/``localhost`` for web apps only
in a development deployment. Every problem is reported at once, as a catalogue key.

Scopes: a developer may ask for :data:`DEVELOPER_SCOPES`. ``nik`` (the national identity
number) is *not* self-service: it is personal data under UU PDP, and only a city admin, after
checking the app's legal basis, may add it to an approved app (``sso/admin``). Machine apps get
no person scopes (client credentials act for no person).

New apps are ``pending``: ``/authorize`` and ``/token`` refuse any client that is not
``active``, so a pending or rejected app can log nobody in. An admin calls :func:`sso.oauth.app_review.approve`
or :func:`~sso.oauth.app_review.reject`. Developers edit, rotate the secret of, and delete only their *own* apps: every
service here takes the acting user and checks ownership itself (a foreign app is "not found",
so its existence is not revealed either).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.errors import Conflict, DomainError, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import Client, User
from sso.oauth import clients as client_service
from sso.oauth import redirect_uris
from sso.oauth.url_guard import UnsafeURL, check_client_url
from sso.storage import admin_lists, audit
from sso.storage import clients as client_repo
from sso.storage import registrations as repo

KINDS = ("web", "spa", "native", "m2m")
DEVELOPER_SCOPES = ("openid", "profile", "email", "phone", "offline_access", "opd", "roles")
FORBIDDEN_SCOPES = ("nik",)
MAX_REDIRECT_URIS = 10
MAX_DESCRIPTION = 2000
_CODE_GRANTS = ["authorization_code", "refresh_token"]


@dataclass(frozen=True)
class FieldError:
    field: str
    key: str  # catalogue key (developers.error.*)
    params: dict[str, str] = dc_field(default_factory=dict)


class NotVerified(DomainError):
    """The account may not register apps (yet): verify the email address first."""

    status_code = 403


class AppInvalid(InvalidInput):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors[0].key, detail="; ".join(f"{e.field}: {e.key}" for e in errors))
        self.errors = errors


@dataclass
class AppDetails:
    """What a developer fills in (the kind is fixed once the app exists)."""

    name: str
    kind: str = "web"
    description: str = ""
    redirect_uris: list[str] = dc_field(default_factory=list)
    post_logout_redirect_uris: list[str] = dc_field(default_factory=list)
    scopes: list[str] = dc_field(default_factory=lambda: ["openid", "profile", "email"])
    logo_uri: str | None = None
    client_uri: str | None = None
    backchannel_logout_uri: str | None = None


def may_use_portal(user: User) -> bool:
    return user.is_active and (user.kind == "staff" or bool(user.email_verified))


def redirect_uri_problem(
    uri: str, kind: str, *, dev: bool, in_development: bool = False
) -> str | None:
    """The catalogue key saying what is wrong with ``uri`` for an app of ``kind``, or None
    (the rules of :mod:`sso.oauth.redirect_uris`; ``dev``: a development deployment,
    ``in_development``: an app an admin marked as in development)."""
    reason = redirect_uris.problem(
        uri, native=kind == "native", dev=dev, in_development=in_development
    )
    return None if reason is None else f"developers.error.redirect_{reason}"


def _url_problem(settings: Settings, url: str) -> str | None:
    try:
        check_client_url(settings, url)
    except UnsafeURL:
        return "developers.error.url_unsafe"
    return None


def validate(
    details: AppDetails, settings: Settings, *, in_development: bool = False
) -> list[FieldError]:
    """Every problem with ``details``, in form order (empty when it may be saved);
    ``in_development``: the app is marked so (loopback ``http`` redirect URIs allowed)."""
    errors: list[FieldError] = []
    name = details.name.strip()
    if not name or len(name) > 200:
        errors.append(FieldError("name", "developers.error.name"))
    if len(details.description) > MAX_DESCRIPTION:
        errors.append(FieldError("description", "developers.error.description"))
    if details.kind not in KINDS:
        errors.append(FieldError("kind", "developers.error.kind"))
    logs_in = details.kind != "m2m"
    for field_name, uris in (
        ("redirect_uris", details.redirect_uris),
        ("post_logout_redirect_uris", details.post_logout_redirect_uris),
    ):
        if uris and not logs_in:
            errors.append(FieldError(field_name, "developers.error.redirect_m2m"))
            continue
        if len(uris) > MAX_REDIRECT_URIS:
            errors.append(FieldError(field_name, "developers.error.redirect_too_many"))
            continue
        for uri in uris:
            problem = redirect_uri_problem(
                uri, details.kind, dev=settings.env == "dev", in_development=in_development
            )
            if problem:
                errors.append(FieldError(field_name, problem, {"uri": uri[:200]}))
                break
    if logs_in and not details.redirect_uris:
        errors.append(FieldError("redirect_uris", "developers.error.redirect_required"))
    if logs_in:
        for scope in details.scopes:
            if scope in FORBIDDEN_SCOPES:
                errors.append(FieldError("scopes", "developers.error.scope_nik"))
            elif scope not in DEVELOPER_SCOPES:
                errors.append(FieldError("scopes", "developers.error.scope", {"scope": scope[:50]}))
    for field_name in ("logo_uri", "client_uri", "backchannel_logout_uri"):
        value = getattr(details, field_name)
        if value:
            if field_name == "backchannel_logout_uri" and not logs_in:
                errors.append(FieldError(field_name, "developers.error.backchannel_m2m"))
                continue
            problem = _url_problem(settings, value)
            if problem:
                errors.append(FieldError(field_name, problem, {"uri": value[:200]}))
    return errors


def _scope_of(details: AppDetails) -> str:
    if details.kind == "m2m":
        return ""
    chosen = [s for s in DEVELOPER_SCOPES if s in details.scopes and s != "openid"]
    return " ".join(["openid", *chosen])


def spec_for(
    details: AppDetails, owner_id: str | None, *, status: str
) -> client_service.ClientSpec:
    public = details.kind in ("spa", "native")
    return client_service.ClientSpec(
        name=details.name.strip(),
        description=details.description.strip(),
        redirect_uris=list(details.redirect_uris),
        post_logout_redirect_uris=list(details.post_logout_redirect_uris),
        grant_types=["client_credentials"] if details.kind == "m2m" else list(_CODE_GRANTS),
        scope=_scope_of(details),
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        public=public,
        backchannel_logout_uri=details.backchannel_logout_uri or None,
        owner_id=owner_id,
        status=status,
        app_kind=details.kind,
        logo_uri=details.logo_uri or None,
        client_uri=details.client_uri or None,
    )


def create_app(
    session: Session, settings: Settings, owner: User, details: AppDetails
) -> client_service.RegisteredClient:
    """Register a ``pending`` app owned by ``owner``; the secret (web, m2m) is returned once."""
    if not may_use_portal(owner):
        raise NotVerified("developers.error.not_verified", detail="unverified account")
    errors = validate(details, settings)
    if errors:
        raise AppInvalid(errors)
    spec = spec_for(details, owner.id, status="pending")
    return client_service.register(
        session, settings.secret_key_bytes(), spec, actor_id=owner.id, env=settings.env
    )


def apps_of(
    session: Session, owner: User, *, query: str = "", number: int = 1, size: int = 25
) -> admin_lists.Page[Client]:
    """One page of ``owner``'s apps whose name or client_id contains ``query``, newest first."""
    return admin_lists.owned_clients(session, owner.id, query=query, number=number, size=size)


def owned_app(session: Session, client_id: str, owner: User) -> Client:
    """The app ``client_id`` if ``owner`` owns it; otherwise "not found" (whether it exists
    or belongs to someone else is not revealed)."""
    client = client_repo.get_by_client_id(session, client_id[:64])
    if client is None or client.owner_id is None or client.owner_id != owner.id:
        raise NotFound("developers.error.app_not_found", detail=f"{client_id!r} not owned")
    return client


def details_of(client: Client) -> AppDetails:
    return AppDetails(
        name=client.name,
        kind=client.app_kind or ("spa" if client.is_public else "web"),
        description=client.description or "",
        redirect_uris=list(client.redirect_uris or []),
        post_logout_redirect_uris=list(client.post_logout_redirect_uris or []),
        scopes=client.scopes,
        logo_uri=client.logo_uri,
        client_uri=client.client_uri,
        backchannel_logout_uri=client.backchannel_logout_uri,
    )


def update_app(
    session: Session,
    settings: Settings,
    client_id: str,
    owner: User,
    details: AppDetails,
    *,
    version: int | None,
) -> Client:
    client = owned_app(session, client_id, owner)
    if version is not None and version != client.version:
        raise Conflict("developers.error.stale", detail="app changed since the form was shown")
    details.kind = client.app_kind or details_of(client).kind  # fixed once created
    errors = validate(details, settings, in_development=client.in_development)
    if errors:
        raise AppInvalid(errors)
    spec = spec_for(details, owner.id, status=client.status)
    if "nik" in client.scopes and spec.scope:  # an admin granted it: the developer keeps it
        spec.scope += " nik"
    client_repo.update_client(
        session,
        client,
        name=spec.name,
        description=spec.description,
        redirect_uris=list(dict.fromkeys(spec.redirect_uris)),
        post_logout_redirect_uris=list(dict.fromkeys(spec.post_logout_redirect_uris)),
        scope=spec.scope,
        logo_uri=spec.logo_uri,
        client_uri=spec.client_uri,
        backchannel_logout_uri=spec.backchannel_logout_uri,
    )
    audit.record(
        session,
        Event.CLIENT_UPDATED,
        actor_id=owner.id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        by="developer",
    )
    return client


def rotate_secret(session: Session, settings: Settings, client_id: str, owner: User) -> str:
    client = owned_app(session, client_id, owner)
    return client_service.rotate_secret(
        session, settings.secret_key_bytes(), client.client_id, actor_id=owner.id
    )


def delete_client(session: Session, client: Client, *, actor_id: str | None, by: str) -> None:
    """Delete a client and revoke what it was given (its grants, hence its tokens)."""
    revoked = repo.revoke_client_grants(session, client.client_id)
    audit.record(
        session,
        Event.CLIENT_DELETED,
        actor_id=actor_id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        by=by,
        grants_revoked=revoked,
    )
    client_repo.delete(session, client)


def delete_app(session: Session, client_id: str, owner: User) -> None:
    delete_client(session, owned_app(session, client_id, owner), actor_id=owner.id, by="developer")
