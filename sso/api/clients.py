"""``/clients``: registered applications. List (any part of the name or client_id; status),
read, register (the secret shown once, in that answer only), change settings (``If-Match``),
limit a machine client to an agency, and the console's actions: disable, enable (never the
console's own client), rotate the secret, approve or reject a developer registration. Admins
only (``clients.manage``), as in the console. Secrets are never readable afterwards."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sso.admin.services import clients as service
from sso.api.common import (
    Paging,
    Reader,
    Writer,
    check_if_match,
    iso,
    page_response,
    resource,
)
from sso.core.errors import NotFound
from sso.db.models import Agency, Client
from sso.oauth.clients import ClientSpec, register, rotate_secret
from sso.storage import agencies as agency_repo
from sso.storage import keyset
from sso.storage.admin_lists import clean

router = APIRouter(prefix="/clients", tags=["clients"])


class ClientOut(BaseModel):
    client_id: str
    name: str
    description: str
    status: Literal["pending", "active", "disabled", "rejected"]
    client_type: Literal["confidential", "public"]
    token_endpoint_auth_method: str
    grant_types: list[str]
    scope: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    access_token_lifetime: int | None
    refresh_token_lifetime: int | None
    trusted: bool
    in_development: bool
    admin_agency: str | None = Field(
        description="Admin API clients: the agency (and the ones "
        "below it) the client is limited to."
    )
    created_at: str
    version: int


class RegisteredOut(ClientOut):
    client_secret: str | None = Field(description="Shown in this answer only.")


class ClientList(BaseModel):
    items: list[ClientOut]


class NewClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    description: str = Field("", max_length=2000)
    redirect_uris: list[str] = Field(default_factory=list, max_length=50)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=50)
    grant_types: list[str] = Field(
        default_factory=lambda: ["authorization_code", "refresh_token"], max_length=4
    )
    scope: str = Field("openid profile email", max_length=1000)
    token_endpoint_auth_method: str | None = Field(None, max_length=32)
    public: bool = False
    trusted: bool = False
    backchannel_logout_uri: str | None = Field(None, max_length=2000)
    admin_agency: str | None = Field(None, max_length=32)


class ClientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    redirect_uris: list[str] | None = Field(None, max_length=50)
    post_logout_redirect_uris: list[str] | None = Field(None, max_length=50)
    grant_types: list[str] | None = Field(None, max_length=4)
    scope: str | None = Field(None, max_length=1000)
    access_token_lifetime: int | None = None
    refresh_token_lifetime: int | None = None
    trusted: bool | None = None
    backchannel_logout_uri: str | None = Field(None, max_length=2000)
    admin_agency: str | None = Field(
        None, max_length=32, description='Agency code; "" removes the limit.'
    )


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)


def client_body(session: Session, client: Client) -> dict[str, Any]:
    agency = session.get(Agency, client.admin_agency_id) if client.admin_agency_id else None
    return {
        "client_id": client.client_id,
        "name": client.name,
        "description": client.description,
        "status": client.status,
        "client_type": client.client_type,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types),
        "scope": client.scope,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "access_token_lifetime": client.access_token_lifetime,
        "refresh_token_lifetime": client.refresh_token_lifetime,
        "trusted": client.trusted,
        "in_development": client.in_development,
        "admin_agency": agency.code if agency else None,
        "created_at": iso(client.created_at),
        "version": client.version,
    }


def _agency_id(session: Session, code: str | None) -> int | None:
    if not code:
        return None
    agency = agency_repo.get_by_code(session, code.strip().upper())
    if agency is None:
        raise NotFound("error.agency_unknown")
    return agency.id


@router.get("", response_model=ClientList)
def list_clients(
    call: Reader,
    paging: Paging,
    q: Annotated[str, Query(max_length=100, description="Any part of the name or client_id.")] = "",
    status: Literal["pending", "active", "disabled", "rejected"] | None = None,
) -> Response:
    call.allow("clients.manage")
    stmt = select(Client)
    text = clean(q).casefold()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(Client.name).like(pattern, escape="\\"),
                func.lower(Client.client_id).like(pattern, escape="\\"),
            )
        )
    if status:
        stmt = stmt.where(Client.status == status)
    found = keyset.page(
        call.session, stmt, Client.id, after=paging.after, before=paging.before, limit=paging.limit
    )
    rows = found.rows
    return page_response(
        call.request,
        [client_body(call.session, c) for c in rows],
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
        more_before=found.more_before,
        more_after=found.more_after,
    )


@router.get("/{client_id}", response_model=ClientOut)
def get_client(call: Reader, client_id: str) -> Response:
    call.allow("clients.manage")
    return resource(client_body(call.session, service.get(call.session, client_id[:64])))


@router.post("", status_code=201, response_model=RegisteredOut)
def create_client(call: Writer, body: NewClientIn) -> Response:
    """Register a client. ``client_secret`` is in this answer only (stored as a keyed hash)."""
    call.allow("clients.manage")
    session = call.session
    spec = ClientSpec(
        name=body.name,
        description=body.description,
        redirect_uris=body.redirect_uris,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        grant_types=body.grant_types,
        scope=body.scope,
        token_endpoint_auth_method=body.token_endpoint_auth_method,
        public=body.public,
        trusted=body.trusted,
        backchannel_logout_uri=body.backchannel_logout_uri,
        admin_agency_id=_agency_id(session, body.admin_agency),
    )
    registered = register(
        session, call.runtime.secret_key, spec, actor_id=None, env=call.runtime.settings.env
    )
    call.commit()
    client = registered.client
    out = {**client_body(session, client), "client_secret": registered.client_secret}
    return resource(out, 201, location=f"{call.request.url.path}/{client.client_id}")


@router.patch("/{client_id}", response_model=ClientOut)
def update_client(call: Writer, client_id: str, body: ClientPatch) -> Response:
    call.allow("clients.manage")
    session = call.session
    client = service.get(session, client_id[:64])
    check_if_match(call.request, client_body(session, client), required=True)
    sent = body.model_fields_set

    def keep(name: str) -> Any:
        return getattr(body, name) if name in sent else getattr(client, name)

    service.edit(
        session,
        call.runtime.settings,
        client,
        service.ClientEdit(
            version=client.version,
            redirect_uris=list(keep("redirect_uris") or []),
            post_logout_redirect_uris=list(keep("post_logout_redirect_uris") or []),
            scope=keep("scope") or "",
            grant_types=list(keep("grant_types") or []),
            access_token_lifetime=keep("access_token_lifetime"),
            refresh_token_lifetime=keep("refresh_token_lifetime"),
            trusted=bool(keep("trusted")),
            backchannel_logout_uri=keep("backchannel_logout_uri"),
        ),
        actor_id=None,
    )
    if "admin_agency" in sent:
        service.set_admin_agency(
            session, client, _agency_id(session, body.admin_agency), actor_id=None
        )
    call.commit()
    session.refresh(client)
    return resource(client_body(session, client))


@router.post("/{client_id}/{action}", response_model=RegisteredOut)
def client_action(
    call: Writer,
    client_id: str,
    action: Literal["disable", "enable", "rotate-secret", "approve", "reject"],
    body: ReviewIn | None = None,
) -> Response:
    """The console's actions. ``rotate-secret`` answers with the new ``client_secret`` (once;
    the old one stops working at once); ``approve``/``reject`` take an optional ``note``."""
    call.allow("clients.manage")
    session = call.session
    client = service.get(session, client_id[:64])
    check_if_match(call.request, client_body(session, client), required=False)
    secret = None
    if action in ("disable", "enable"):
        service.set_disabled(session, client, action == "disable", actor_id=None)
    elif action == "rotate-secret":
        secret = rotate_secret(session, call.runtime.secret_key, client.client_id, actor_id=None)
    else:
        service.review(
            session, client, action == "approve", body.note if body else "", actor_id=None
        )
    call.commit()
    session.refresh(client)
    return resource({**client_body(session, client), "client_secret": secret})
