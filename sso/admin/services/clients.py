"""Admin changes to clients: review of developer registrations (pending → active / rejected,
with reviewer, time and note), settings edits checked by the same rules as registration
(:mod:`sso.oauth.clients`, :mod:`sso.oauth.redirect_uris`, :mod:`sso.oauth.url_guard`), disable / enable. A disabled client's
tokens are refused at once: introspection and the token endpoint read its status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.errors import Conflict, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import Client, User
from sso.oauth import app_review, redirect_uris, url_guard
from sso.oauth.clients import (
    GRANT_TYPES,
    ClientSpec,
    RegisteredClient,
    check_spec,
    register,
    rotate_secret,
    validate_scope,
)
from sso.storage import audit
from sso.storage import clients as client_repo
from sso.storage import users as user_repo
from sso.web.console import CONSOLE_CLIENT_ID

MAX_ACCESS_LIFETIME = 24 * 3600
MAX_REFRESH_LIFETIME = 365 * 24 * 3600


@dataclass(frozen=True)
class ClientEdit:
    version: int
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scope: str
    grant_types: list[str]
    access_token_lifetime: int | None
    refresh_token_lifetime: int | None
    trusted: bool
    backchannel_logout_uri: str | None


def owner_of(session: Session, client: Client) -> User | None:
    """The person who registered a developer app (for the review), if any."""
    return user_repo.get(session, client.owner_id) if client.owner_id else None


def get(session: Session, client_id: str) -> Client:
    client = client_repo.get_by_client_id(session, client_id)
    if client is None:
        raise NotFound("error.client_unknown")
    return client


def _lifetime(value: int | None, maximum: int) -> int | None:
    if value is not None and not 60 <= value <= maximum:
        raise InvalidInput("admin.client.lifetime_invalid", max=maximum)
    return value


def edit(
    session: Session,
    settings: Settings,
    client: Client,
    change: ClientEdit,
    *,
    actor_id: str | None,
) -> list[str]:
    if client.version != change.version:
        raise Conflict("admin.conflict")
    for grant in change.grant_types:
        if grant not in GRANT_TYPES:
            raise InvalidInput("error.grant_type_invalid")
    if client.is_public and "client_credentials" in change.grant_types:
        raise InvalidInput("error.grant_type_invalid")
    if "authorization_code" in change.grant_types and not change.redirect_uris:
        raise InvalidInput("error.redirect_uri_required")
    redirect_uris.check_all(
        change.redirect_uris + change.post_logout_redirect_uris,
        native=redirect_uris.is_native(client.app_kind, client.is_public),
        dev=settings.env == "dev",
        in_development=client.in_development,
    )
    if change.backchannel_logout_uri:
        try:
            url_guard.check_client_url(settings, change.backchannel_logout_uri)
        except url_guard.UnsafeURL as exc:
            raise InvalidInput("admin.client.logout_uri_invalid", reason=str(exc)) from exc
    values: client_repo.ClientChanges = {
        "redirect_uris": list(dict.fromkeys(change.redirect_uris)),
        "post_logout_redirect_uris": list(dict.fromkeys(change.post_logout_redirect_uris)),
        "scope": validate_scope(change.scope),
        "grant_types": list(dict.fromkeys(change.grant_types)),
        "access_token_lifetime": _lifetime(change.access_token_lifetime, MAX_ACCESS_LIFETIME),
        "refresh_token_lifetime": _lifetime(change.refresh_token_lifetime, MAX_REFRESH_LIFETIME),
        "trusted": change.trusted,
        "backchannel_logout_uri": change.backchannel_logout_uri or None,
    }
    changed = client_repo.update_client(session, client, **values)
    if not changed:
        return []
    audit.record(
        session,
        Event.CLIENT_UPDATED,
        actor_id=actor_id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        fields=changed,
    )
    return changed


def review(
    session: Session, client: Client, approve: bool, note: str, *, actor_id: str | None
) -> None:
    """Approve or reject a developer registration: the rules live with the registrations
    (:mod:`sso.oauth.developer_apps`), so the portal and the admin UI cannot drift apart."""
    if approve:
        app_review.approve(session, client, actor_id, note or "")
    else:
        app_review.reject(session, client, actor_id, note or "")


def check_can_disable(client: Client) -> None:
    """The console's own client is never disabled: nobody could log in to the console to
    enable it again."""
    if client.client_id == CONSOLE_CLIENT_ID:
        raise InvalidInput("admin.client.built_in")


def set_disabled(session: Session, client: Client, disabled: bool, *, actor_id: str | None) -> None:
    if disabled:
        check_can_disable(client)
    wanted, expected = ("disabled", "active") if disabled else ("active", "disabled")
    if client.status != expected:
        raise Conflict("admin.client.wrong_status")
    client_repo.set_status(session, client, wanted)
    audit.record(
        session,
        Event.CLIENT_DISABLED if disabled else Event.CLIENT_ENABLED,
        actor_id=actor_id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
    )


def set_admin_agency(
    session: Session, client: Client, agency_id: int | None, *, actor_id: str | None
) -> bool:
    """Limit a machine client of the Admin API to an agency's subtree (None: no limit)."""
    if client.admin_agency_id == agency_id:
        return False
    if agency_id is not None and "client_credentials" not in client.grant_types:
        raise InvalidInput("error.grant_type_invalid")
    client_repo.set_admin_agency(session, client, agency_id)
    audit.record(
        session,
        Event.CLIENT_UPDATED,
        actor_id=actor_id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        fields=["admin_agency_id"],
    )
    return True


# Registration metadata an admin may change on an existing client (beyond :class:`ClientEdit`):
# checked again as a whole by the registration rules (sso.oauth.clients.check_spec).
REGISTRATION_FIELDS = (
    "name",
    "description",
    "app_kind",
    "token_endpoint_auth_method",
    "id_token_signed_response_alg",
    "jwks",
    "jwks_uri",
    "backchannel_logout_session_required",
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
    "contacts",
)
_GUARDED_URLS = (
    "jwks_uri",
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
    "backchannel_logout_uri",
)
_SECRET_METHODS = ("client_secret_basic", "client_secret_post")


def _guard_urls(settings: Settings, values: dict[str, object]) -> None:
    """The SSRF rule for every URL the provider may fetch or post to (sso.oauth.url_guard)."""
    for key in _GUARDED_URLS:
        url = values.get(key)
        if isinstance(url, str) and url:
            try:
                url_guard.check_client_url(settings, url)
            except url_guard.UnsafeURL as exc:
                raise InvalidInput(
                    "admin.client.logout_uri_invalid", reason=str(exc), detail=f"{key}: {exc}"
                ) from exc


def create(
    session: Session, settings: Settings, spec: ClientSpec, *, actor_id: str
) -> RegisteredClient:
    """Register a client as an admin: the registration rules plus the SSRF guard on its URLs."""
    _guard_urls(settings, vars(spec))
    return register(session, settings.secret_key_bytes(), spec, actor_id=actor_id, env=settings.env)


def edit_registration(
    session: Session,
    settings: Settings,
    client: Client,
    changes: Mapping[str, Any],
    *,
    actor_id: str,
    secret: str | None = None,
) -> list[str]:
    """Change registration metadata (:data:`REGISTRATION_FIELDS`) of ``client``; returns the
    fields that changed. The client's type (public / confidential) never changes. A move to
    ``private_key_jwt`` drops the stored secret; a move back to a secret method needs
    ``secret`` (a given one, :func:`sso.oauth.clients.check_given_secret`)."""
    unknown = set(changes) - set(REGISTRATION_FIELDS)
    if unknown:
        raise InvalidInput("admin.client.field_fixed", detail=f"cannot change {sorted(unknown)}")
    values = {key: getattr(client, key) for key in REGISTRATION_FIELDS} | dict(changes)
    spec = ClientSpec(
        name=values["name"],
        description=values["description"] or "",
        redirect_uris=list(client.redirect_uris),
        post_logout_redirect_uris=list(client.post_logout_redirect_uris),
        grant_types=list(client.grant_types),
        scope=client.scope,
        token_endpoint_auth_method=values["token_endpoint_auth_method"],
        public=client.is_public,
        backchannel_logout_uri=client.backchannel_logout_uri,
        backchannel_logout_session_required=values["backchannel_logout_session_required"],
        id_token_signed_response_alg=values["id_token_signed_response_alg"],
        jwks=values["jwks"],
        app_kind=values["app_kind"],
        logo_uri=values["logo_uri"],
        client_uri=values["client_uri"],
        policy_uri=values["policy_uri"],
        tos_uri=values["tos_uri"],
        jwks_uri=values["jwks_uri"],
        contacts=list(values["contacts"] or []),
        in_development=client.in_development,
    )
    values["token_endpoint_auth_method"] = check_spec(spec, settings.env)
    values["name"] = spec.name.strip()
    _guard_urls(settings, values)
    changed = [k for k in REGISTRATION_FIELDS if getattr(client, k) != values[k]]
    method = values["token_endpoint_auth_method"]
    if method in _SECRET_METHODS and not client.client_secret_hash and not secret:
        raise InvalidInput("error.client_secret_required", detail=f"{method} needs a client secret")
    if not changed and not secret:
        return []
    client_repo.update_client(session, client, **{key: values[key] for key in changed})
    if method not in _SECRET_METHODS and client.client_secret_hash is not None:
        # private_key_jwt: a left-over secret must not work
        client_repo.set_secret_hash(session, client, None)
    audit.record(
        session,
        Event.CLIENT_UPDATED,
        actor_id=actor_id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        fields=changed,
    )
    if secret:
        rotate_secret(
            session, settings.secret_key_bytes(), client.client_id, actor_id=actor_id, secret=secret
        )
    return changed
