"""Clients (relying parties) with every registration field, keyed by ``client_id`` (kept as it
is, so a rebuilt deployment keeps the identifiers its relying parties hold). A client's secret
is never in the file: ``secret: ${ENV_NAME}`` names the variable holding it. A confidential
client created by apply gets that value as its secret; for an existing client a different value
replaces the stored secret (compared by keyed hash), and leaving ``secret`` out keeps it.

Applied through the admin console's services (:mod:`sso.admin.services.clients`: creation with
the SSRF guard, the settings form, registration metadata, disable / enable; marking an app in
development from :mod:`sso.oauth.app_review`, deletion from :mod:`sso.oauth.developer_apps`). Reviewing a developer's
pending app stays a person's decision in the console: apply does not approve or reject.

The provider's own console client (``tangselconsole``, :mod:`sso.web.console`) is not
configuration: the provider makes it and points it at its own issuer, so it is never exported,
changed or pruned, and a file may not name it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from sso.admin.services import clients as service
from sso.config_code.model import (
    ApplyContext,
    Change,
    Field,
    Handler,
    ReadContext,
    Ref,
    Secret,
    reference,
)
from sso.core.crypto import keyed_hash
from sso.core.errors import Conflict, InvalidInput
from sso.db.models import Client
from sso.oauth import app_review, developer_apps
from sso.oauth.clients import AUTH_METHODS, GRANT_TYPES, SIGNING_ALGS, ClientSpec, rotate_secret
from sso.runtime import Runtime
from sso.storage import agencies as agency_repo
from sso.storage import clients as repo
from sso.web.console import CONSOLE_CLIENT_ID

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
FIELDS = (
    Field("client_id", "str", required=True, nullable=False),
    Field("name", "str", required=True, nullable=False),
    Field("description", "text", default="", nullable=False),
    Field(
        "client_type",
        "str",
        default="confidential",
        choices=("confidential", "public"),
        nullable=False,
    ),
    Field(
        "status",
        "str",
        default="active",
        nullable=False,
        choices=("active", "disabled", "pending", "rejected"),
    ),
    Field("app_kind", "str", choices=("web", "spa", "native", "m2m")),
    Field("in_development", "bool", default=False, nullable=False),
    Field("trusted", "bool", default=False, nullable=False),
    Field("redirect_uris", "list", default=[], nullable=False),
    Field("post_logout_redirect_uris", "list", default=[], nullable=False),
    Field(
        "grant_types",
        "list",
        default=["authorization_code", "refresh_token"],
        nullable=False,
        choices=GRANT_TYPES,
    ),
    Field("scope", "str", default="openid profile email", nullable=False),
    Field("token_endpoint_auth_method", "str", choices=AUTH_METHODS),
    Field("id_token_signed_response_alg", "str", choices=SIGNING_ALGS),
    Field("jwks", "dict"),
    Field("jwks_uri", "str"),
    Field("backchannel_logout_uri", "str"),
    Field("backchannel_logout_session_required", "bool", default=True, nullable=False),
    Field("access_token_lifetime", "int"),
    Field("refresh_token_lifetime", "int"),
    Field("logo_uri", "str"),
    Field("client_uri", "str"),
    Field("policy_uri", "str"),
    Field("tos_uri", "str"),
    Field("contacts", "list", default=[], nullable=False),
    # The agency subtree an Admin API machine client is limited to (clients.admin_agency_id).
    Field("admin_agency", "str"),
    Field("secret", "secret"),
)
FORM_FIELDS = (
    "redirect_uris",
    "post_logout_redirect_uris",
    "scope",
    "grant_types",
    "access_token_lifetime",
    "refresh_token_lifetime",
    "trusted",
    "backchannel_logout_uri",
)


def secret_variables(clients: list[Client]) -> dict[str, str]:
    """A variable name per client that has a secret, from its name (``CLIENT_SECRET_PORTAL``),
    numbered when names clash (in client_id order, so the names stay put)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for client in sorted(clients, key=lambda c: c.client_id):
        if not client.client_secret_hash or client.token_endpoint_auth_method not in SECRET_METHODS:
            continue
        base = "CLIENT_SECRET_" + (
            re.sub(r"[^A-Z0-9]+", "_", client.name.upper()).strip("_") or "APP"
        )
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[client.client_id] = name
    return names


class Clients(Handler):
    kind = "client"
    section = "clients"
    keep_when_absent = frozenset({"secret"})

    def current(self, session: Session, rt: Runtime) -> dict[str, dict[str, Any]]:
        codes = {a.id: a.code for a in agency_repo.list_all(session)}
        found = {}
        for client in repo.list_all(session):
            if client.client_id == CONSOLE_CLIENT_ID:
                continue
            values = {f.name: getattr(client, f.name, None) for f in FIELDS}
            values["description"] = client.description or ""
            values["contacts"] = list(client.contacts or [])
            values["admin_agency"] = codes.get(client.admin_agency_id or 0)
            values["secret"] = (
                Secret(None, client.client_secret_hash) if client.client_secret_hash else None
            )
            found[client.client_id] = values
        return found

    def export(self, session: Session, rt: Runtime) -> list[dict[str, Any]]:
        clients = [c for c in repo.list_all(session) if c.client_id != CONSOLE_CLIENT_ID]
        variables = secret_variables(clients)
        current = self.current(session, rt)
        out = []
        for client_id in sorted(current):
            values = dict(current[client_id])
            values["secret"] = reference(variables[client_id]) if client_id in variables else None
            out.append({k: v for k, v in values.items() if v is not None})
        return out

    def read(self, items: list[Any], ctx: ReadContext) -> dict[str, dict[str, Any]]:
        key = ctx.settings.secret_key_bytes()
        found: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items):
            at = f"{self.section}[{index}]"
            values = ctx.fields(
                item, FIELDS, at, digest=lambda value: keyed_hash(key, value, "client_secret")
            )
            client_id = item.get("client_id") if isinstance(item, dict) else None
            if values is None:
                if isinstance(client_id, str):
                    ctx.failed.add((self.kind, client_id.strip()))
                continue
            if values["client_id"] == CONSOLE_CLIENT_ID:
                ctx.problem(
                    f"{at}.client_id",
                    f"{CONSOLE_CLIENT_ID} is the provider's own "
                    "console client, made by the provider itself; leave it out",
                )
                ctx.failed.add((self.kind, CONSOLE_CLIENT_ID))
                continue
            if values["client_id"] in found:
                ctx.problem(f"{at}.client_id", f"client {values['client_id']} appears twice")
                continue
            values["scope"] = " ".join(dict.fromkeys(values["scope"].split()))
            if values["admin_agency"]:
                values["admin_agency"] = values["admin_agency"].upper()
            if values["token_endpoint_auth_method"] is None:
                public = values["client_type"] == "public"
                values["token_endpoint_auth_method"] = "none" if public else "client_secret_basic"
            found[values["client_id"]] = values
        return found

    def label(self, key: str, values: Mapping[str, Any]) -> str:
        return f"{key} ({values['name']})"

    def references(self, key: str, values: Mapping[str, Any]) -> list[tuple[Ref, str]]:
        agency = values.get("admin_agency")
        return [(("agency", agency.upper()), "admin_agency")] if agency else []

    def apply(self, ctx: ApplyContext, change: Change) -> None:
        if change.action == "create":
            assert change.desired is not None
            _create(ctx, change.desired)
            return
        client = service.get(ctx.session, change.key)
        if change.action == "delete":
            developer_apps.delete_client(
                ctx.session, client, actor_id=ctx.actor_id, by=ctx.actor_id
            )
            return
        assert change.desired is not None
        _update(ctx, client, change.desired, set(change.fields))


def _set_agency_limit(ctx: ApplyContext, client: Client, code: str | None) -> None:
    """Limit an Admin API machine client to an agency subtree (or lift the limit), through the
    same service as the API and the CLI: only client_credentials clients may carry one."""
    agency_id = None
    if code:
        agency = agency_repo.get_by_code(ctx.session, code.upper())
        if agency is None:  # validation checked the reference; a race is still an error
            raise InvalidInput("admin.err.agency_unknown", detail=f"no agency {code}")
        agency_id = agency.id
    service.set_admin_agency(ctx.session, client, agency_id, actor_id=ctx.actor_id)


def _create(ctx: ApplyContext, values: Mapping[str, Any]) -> None:
    secret: Secret | None = values["secret"]
    public = values["client_type"] == "public"
    if not public and values["token_endpoint_auth_method"] in SECRET_METHODS and secret is None:
        raise InvalidInput(
            "error.client_secret_required",
            detail="a new confidential client needs secret: ${ENV_NAME}",
        )
    spec = ClientSpec(
        name=values["name"],
        description=values["description"],
        public=public,
        redirect_uris=values["redirect_uris"],
        post_logout_redirect_uris=values["post_logout_redirect_uris"],
        grant_types=values["grant_types"],
        scope=values["scope"],
        token_endpoint_auth_method=values["token_endpoint_auth_method"],
        trusted=values["trusted"],
        backchannel_logout_uri=values["backchannel_logout_uri"],
        backchannel_logout_session_required=values["backchannel_logout_session_required"],
        id_token_signed_response_alg=values["id_token_signed_response_alg"],
        jwks=values["jwks"],
        status=values["status"],
        app_kind=values["app_kind"],
        logo_uri=values["logo_uri"],
        client_uri=values["client_uri"],
        policy_uri=values["policy_uri"],
        tos_uri=values["tos_uri"],
        jwks_uri=values["jwks_uri"],
        contacts=values["contacts"],
        in_development=values["in_development"],
        client_id=values["client_id"],
        client_secret=secret.value if secret else None,
    )
    client = service.create(ctx.session, ctx.settings, spec, actor_id=ctx.actor_id).client
    if values["admin_agency"]:
        _set_agency_limit(ctx, client, values["admin_agency"])
    if values["access_token_lifetime"] is not None or values["refresh_token_lifetime"] is not None:
        service.edit(
            ctx.session, ctx.settings, client, _form(client, values), actor_id=ctx.actor_id
        )


def _form(client: Client, values: Mapping[str, Any]) -> service.ClientEdit:
    return service.ClientEdit(
        version=client.version, **{name: values[name] for name in FORM_FIELDS}
    )


def _update(
    ctx: ApplyContext, client: Client, values: Mapping[str, Any], changed: set[str]
) -> None:
    session, settings, actor = ctx.session, ctx.settings, ctx.actor_id
    if "admin_agency" in changed:
        _set_agency_limit(ctx, client, values["admin_agency"])
    if "client_type" in changed:
        raise InvalidInput(
            "admin.client.field_fixed",
            detail="client_type cannot change (remove the client, add a new one)",
        )
    if "in_development" in changed and values["in_development"]:
        app_review.set_in_development(session, settings, client, True, actor_id=actor)
    secret: Secret | None = values["secret"] if "secret" in changed else None
    registration = {k: values[k] for k in service.REGISTRATION_FIELDS if k in changed}
    if registration:
        service.edit_registration(
            session,
            settings,
            client,
            registration,
            actor_id=actor,
            secret=secret.value if secret else None,
        )
        secret = None
    if changed & set(FORM_FIELDS):
        service.edit(session, settings, client, _form(client, values), actor_id=actor)
    if secret is not None:
        rotate_secret(
            session,
            settings.secret_key_bytes(),
            client.client_id,
            actor_id=actor,
            secret=secret.value,
        )
    if "in_development" in changed and not values["in_development"]:
        app_review.set_in_development(session, settings, client, False, actor_id=actor)
    if "status" in changed:
        wanted = values["status"]
        if {client.status, wanted} != {"active", "disabled"}:
            raise Conflict(
                "developers.error.review_state",
                detail=f"status {client.status} -> {wanted}: apply only enables and "
                "disables; review developers' apps in the admin console",
            )
        service.set_disabled(session, client, wanted == "disabled", actor_id=actor)
