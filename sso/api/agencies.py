"""``/agencies``: the OPD tree, addressed by code. List (any part of the code or name), read,
create, change (rename and/or move, ``If-Match``), merge one into another, delete an empty
one. An agency-limited client sees its own part of the tree and changes none of it, like an
opd-admin in the console (``agencies.manage`` is for admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sso.admin.services import agencies as service
from sso.api.common import (
    Call,
    Paging,
    Reader,
    Writer,
    check_if_match,
    iso,
    no_content,
    page_response,
    resource,
)
from sso.core.errors import NotFound
from sso.db.models import Agency
from sso.storage import agencies as agency_repo
from sso.storage import directory as dir_repo
from sso.storage import keyset
from sso.storage.admin_lists import clean

router = APIRouter(prefix="/agencies", tags=["agencies"])


class AgencyOut(BaseModel):
    code: str
    name: str
    parent: str | None = Field(description="Code of the agency above, if any.")
    staff: int = Field(description="Staff of this agency (not of those below it).")
    created_at: str
    version: int


class AgencyList(BaseModel):
    items: list[AgencyOut]


class NewAgencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    parent: str | None = Field(None, max_length=32)


class AgencyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    parent: str | None = Field(
        None, max_length=32, description='Code of the new parent; "" for the top level.'
    )


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: str = Field(max_length=32, description="Code of the agency that absorbs this one.")


def agency_body(session: Session, agency: Agency) -> dict[str, Any]:
    parent = agency_repo.get(session, agency.parent_id) if agency.parent_id else None
    return {
        "code": agency.code,
        "name": agency.name,
        "parent": parent.code if parent else None,
        "staff": dir_repo.staff_counts_of(session, [agency.id]).get(agency.id, 0),
        "created_at": iso(agency.created_at),
        "version": agency.version,
    }


def _by_code(session: Session, code: str) -> Agency:
    agency = agency_repo.get_by_code(session, code.strip().upper()[:32])
    if agency is None:
        raise NotFound("error.agency_unknown")
    return agency


def _visible(call: Call, agency: Agency) -> Agency:
    who = call.allow("agencies.view")
    if who.scope is not None and agency.id not in who.scope:
        raise NotFound("error.agency_unknown")  # as if absent: the console hides it too
    return agency


@router.get("", response_model=AgencyList)
def list_agencies(
    call: Reader,
    paging: Paging,
    q: Annotated[str, Query(max_length=100, description="Any part of the code or name.")] = "",
) -> Response:
    who = call.allow("agencies.view")
    stmt = select(Agency)
    text = clean(q).casefold()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(Agency.code).like(pattern, escape="\\"),
                func.lower(Agency.name).like(pattern, escape="\\"),
            )
        )
    if who.scope is not None:
        stmt = stmt.where(Agency.id.in_(sorted(who.scope)))
    found = keyset.page(
        call.session, stmt, Agency.id, after=paging.after, before=paging.before, limit=paging.limit
    )
    rows = found.rows
    return page_response(
        call.request,
        [agency_body(call.session, a) for a in rows],
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
        more_before=found.more_before,
        more_after=found.more_after,
    )


@router.get("/{code}", response_model=AgencyOut)
def get_agency(call: Reader, code: str) -> Response:
    agency = _visible(call, _by_code(call.session, code))
    return resource(agency_body(call.session, agency))


@router.post("", status_code=201, response_model=AgencyOut)
def create_agency(call: Writer, body: NewAgencyIn) -> Response:
    call.allow("agencies.manage")
    session = call.session
    parent_id = _by_code(session, body.parent).id if body.parent else None
    agency = service.create(session, body.code, body.name, parent_id, actor_id=None)
    call.commit()
    return resource(
        agency_body(session, agency), 201, location=f"{call.request.url.path}/{agency.code}"
    )


@router.patch("/{code}", response_model=AgencyOut)
def update_agency(call: Writer, code: str, body: AgencyPatch) -> Response:
    call.allow("agencies.manage")
    session = call.session
    agency = _by_code(session, code)
    check_if_match(call.request, agency_body(session, agency), required=True)
    if body.name is not None and body.name != agency.name:
        agency = service.rename(session, agency.id, body.name, agency.version, actor_id=None)
    if body.parent is not None:
        parent_id = _by_code(session, body.parent).id if body.parent else None
        if parent_id != agency.parent_id:
            agency = service.move(session, agency.id, parent_id, agency.version, actor_id=None)
    call.commit()
    return resource(agency_body(session, agency))


@router.post("/{code}/merge", response_model=AgencyOut)
def merge_agency(call: Writer, code: str, body: MergeIn) -> Response:
    """Move this agency's staff, role assignments and sub-agencies to ``into`` and delete it;
    answers with the agency that remains."""
    call.allow("agencies.manage")
    session = call.session
    source, target = _by_code(session, code), _by_code(session, body.into)
    check_if_match(call.request, agency_body(session, source), required=False)
    service.merge(session, source.id, target.id, actor_id=None)
    call.commit()
    return resource(agency_body(session, _by_code(session, body.into)))


@router.delete("/{code}", status_code=204)
def delete_agency(call: Writer, code: str) -> Response:
    """Only an empty agency (no staff, no sub-agencies) can go; its role assignments go too."""
    call.allow("agencies.manage")
    session = call.session
    agency = _by_code(session, code)
    check_if_match(call.request, agency_body(session, agency), required=True)
    service.delete(session, agency.id, agency.version, actor_id=None)
    call.commit()
    return no_content()
