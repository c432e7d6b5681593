"""``/upstreams``: the upstream identity providers people may log in through (Google, INApas,
any OpenID provider), addressed by slug. List (any part of the name, slug or issuer), read,
create, change (``If-Match``; the client secret is replaced only when one is sent, and never
shown), disable, enable. The same service as ``/admin/upstreams`` and ``sso upstreams``
(:mod:`sso.federation.registry`), for admins only (``clients.manage``, as in the console)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select

from sso.api.common import (
    Call,
    Paging,
    Reader,
    Writer,
    check_if_match,
    iso,
    page_response,
    resource,
)
from sso.db.models import UpstreamProvider
from sso.federation import registry
from sso.storage import keyset
from sso.storage import upstreams as repo
from sso.storage.admin_lists import clean

router = APIRouter(prefix="/upstreams", tags=["upstreams"])
PERMISSION = "clients.manage"


class UpstreamOut(BaseModel):
    slug: str
    name: str
    issuer: str
    client_id: str
    scope: str
    accounts: str
    preset: str
    identity_assurance: bool
    staff_match: str | None
    staff_claim: str | None
    enabled: bool
    redirect_uri: str = Field(description="Register this at the upstream provider.")
    linked_identities: int
    created_at: str
    updated_at: str | None


class UpstreamList(BaseModel):
    items: list[UpstreamOut]


class NewUpstreamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(max_length=40)
    name: str = Field(max_length=100)
    issuer: str = Field(max_length=500)
    client_id: str = Field(max_length=255)
    client_secret: str = Field(max_length=2000)
    scope: str | None = Field(None, max_length=500)
    accounts: Literal["citizen", "staff", "all"] = "citizen"
    preset: Literal["oidc", "google", "inapas"] = "oidc"
    identity_assurance: bool | None = None
    staff_match: str | None = Field(None, max_length=16)
    staff_claim: str | None = Field(None, max_length=64)


class UpstreamPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=100)
    issuer: str | None = Field(None, max_length=500)
    client_id: str | None = Field(None, max_length=255)
    client_secret: str | None = Field(None, max_length=2000)
    scope: str | None = Field(None, max_length=500)
    accounts: Literal["citizen", "staff", "all"] | None = None
    identity_assurance: bool | None = None
    staff_match: str | None = Field(None, max_length=16, description='"" removes it.')
    staff_claim: str | None = Field(None, max_length=64)


def upstream_body(call: Call, row: UpstreamProvider) -> dict[str, Any]:
    return {
        "slug": row.slug,
        "name": row.name,
        "issuer": row.issuer,
        "client_id": row.client_id,
        "scope": row.scope,
        "accounts": row.accounts,
        "preset": row.preset,
        "identity_assurance": row.identity_assurance,
        "staff_match": row.staff_match,
        "staff_claim": row.staff_claim,
        "enabled": row.enabled,
        "redirect_uri": registry.redirect_uri(call.runtime.settings, row.slug),
        "linked_identities": repo.count_links(call.session, row.id),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


@router.get("", response_model=UpstreamList)
def list_upstreams(
    call: Reader,
    paging: Paging,
    q: Annotated[
        str, Query(max_length=100, description="Any part of the name, slug or issuer.")
    ] = "",
) -> Response:
    call.allow(PERMISSION)
    stmt = select(UpstreamProvider)
    text = clean(q).casefold()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(UpstreamProvider.name).like(pattern, escape="\\"),
                func.lower(UpstreamProvider.slug).like(pattern, escape="\\"),
                func.lower(UpstreamProvider.issuer).like(pattern, escape="\\"),
            )
        )
    found = keyset.page(
        call.session,
        stmt,
        UpstreamProvider.slug,
        after=paging.after,
        before=paging.before,
        limit=paging.limit,
    )
    rows = found.rows
    return page_response(
        call.request,
        [upstream_body(call, r) for r in rows],
        first_key=rows[0].slug if rows else None,
        last_key=rows[-1].slug if rows else None,
        more_before=found.more_before,
        more_after=found.more_after,
    )


@router.get("/{slug}", response_model=UpstreamOut)
def get_upstream(call: Reader, slug: str) -> Response:
    call.allow(PERMISSION)
    return resource(upstream_body(call, registry.get(call.session, slug[:40])))


@router.post("", status_code=201, response_model=UpstreamOut)
def create_upstream(call: Writer, body: NewUpstreamIn) -> Response:
    call.allow(PERMISSION)
    runtime = call.runtime
    preset = body.preset
    row = registry.create(
        call.session,
        runtime.settings,
        runtime.encryptor,
        registry.UpstreamSpec(
            slug=body.slug,
            name=body.name,
            issuer=body.issuer,
            client_id=body.client_id,
            client_secret=body.client_secret,
            scope=body.scope,
            accounts=body.accounts,
            preset=preset,
            identity_assurance=body.identity_assurance,  # None: the preset's
            staff_match=body.staff_match,
            staff_claim=body.staff_claim,
        ),
        actor_id=None,
    )
    call.commit()
    return resource(upstream_body(call, row), 201, location=f"{call.request.url.path}/{row.slug}")


@router.patch("/{slug}", response_model=UpstreamOut)
def update_upstream(call: Writer, slug: str, body: UpstreamPatch) -> Response:
    call.allow(PERMISSION)
    runtime = call.runtime
    row = registry.get(call.session, slug[:40])
    check_if_match(call.request, upstream_body(call, row), required=True)
    old_issuer = row.issuer
    row = registry.update(
        call.session,
        runtime.settings,
        runtime.encryptor,
        row.slug,
        registry.UpstreamChanges(**body.model_dump(exclude_unset=True)),
        actor_id=None,
    )
    call.commit()
    runtime.upstream_metadata.forget(old_issuer)  # a changed issuer is looked up afresh
    return resource(upstream_body(call, row))


@router.post("/{slug}/{action}", response_model=UpstreamOut)
def upstream_action(call: Writer, slug: str, action: Literal["disable", "enable"]) -> Response:
    """Disable (the login button goes; linked people keep their accounts and other ways in)
    or enable again."""
    call.allow(PERMISSION)
    row = registry.get(call.session, slug[:40])
    check_if_match(call.request, upstream_body(call, row), required=False)
    if action == "disable":
        row = registry.disable(call.session, row.slug, actor_id=None)
    else:
        row = registry.enable(call.session, row.slug, actor_id=None)
    call.commit()
    return resource(upstream_body(call, row))
