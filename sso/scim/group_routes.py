"""SCIM Groups (RFC 7644 §3, RFC 7643 §4.2): agencies, through :mod:`sso.scim.agencies`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.db.models import Agency
from sso.runtime import Runtime
from sso.scim import agencies
from sso.scim.changes import authority, read_values, search_request, write
from sso.scim.documents import GROUP_SCHEMA, list_response
from sso.scim.http import (
    BodyDep,
    CallerDep,
    Query,
    ScimError,
    base_url,
    check_if_match,
    not_modified,
    one_hop,
    parse_query,
    project,
    refused_filter,
    scim_response,
)
from sso.scim.patch import apply
from sso.storage import scim as scim_repo
from sso.web.deps import RuntimeDep, SessionDep
from sso.web.machine_auth import MachineCaller

router = APIRouter(include_in_schema=False)  # included by sso.scim.routes under its prefix
GROUP_SCHEMAS = (GROUP_SCHEMA,)


def _agency(session: Session, group_id: str, caller: MachineCaller) -> Agency:
    agency = (
        session.get(Agency, int(group_id)) if group_id.isdigit() and len(group_id) < 10 else None
    )
    if agency is None or (caller.agencies is not None and agency.id not in caller.agencies):
        raise ScimError(404, f"no Group {group_id}")
    return agency


def _group_out(
    request: Request,
    runtime: Runtime,
    session: Session,
    caller: MachineCaller,
    group_id: str,
    status: int = 200,
) -> Response:
    agency = _agency(session, group_id, caller)
    members = scim_repo.members_of(session, [agency.id])[agency.id]
    body = agencies.to_json(agency, members, base_url(runtime))
    query = parse_query(dict(request.query_params))
    return scim_response(
        project(body, query.attributes, query.excluded, GROUP_SCHEMAS),
        status,
        version=agency.version,
        location=body["meta"]["location"],
    )


def search_groups_of(
    runtime: Runtime, session: Session, query: Query, caller: MachineCaller
) -> dict[str, Any]:
    try:
        condition = (
            None
            if query.filter is None
            else scim_repo.compile_filter(query.filter, scim_repo.GROUP_ATTRIBUTES)
        )
        page = scim_repo.search_agencies(
            session,
            condition,
            agencies=caller.agencies,
            sort_by=query.sort_by,
            descending=query.descending,
            start=query.start,
            count=query.count,
        )
    except scim_repo.FilterRefused as exc:
        raise refused_filter(exc) from exc
    url = base_url(runtime)
    members = scim_repo.members_of(session, [a.id for a in page.rows])
    found = [
        project(
            agencies.to_json(a, members[a.id], url), query.attributes, query.excluded, GROUP_SCHEMAS
        )
        for a in page.rows
    ]
    return list_response(found, page.total, query.start)


@router.get("/Groups")
@one_hop
def list_groups(
    request: Request, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    return scim_response(
        search_groups_of(runtime, session, parse_query(dict(request.query_params)), caller)
    )


@router.post("/Groups/.search")
@one_hop
def search_groups(
    body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    search_request(body)
    return scim_response(search_groups_of(runtime, session, parse_query(body), caller))


@router.post("/Groups")
@one_hop
def create_group(
    request: Request, body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    if not isinstance(body, dict):
        raise ScimError(400, "the body is a JSON object", "invalidSyntax")
    agency = write(
        session, caller, lambda: agencies.create(session, body, who=authority(session, caller))
    )
    return _group_out(request, runtime, session, caller, str(agency.id), 201)


@router.get("/Groups/{group_id}")
@one_hop
def get_group(
    group_id: str, request: Request, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    agency = _agency(session, group_id, caller)
    if not_modified(request, agency.version):
        return Response(status_code=304, headers={"ETag": f'W/"{agency.version}"'})
    return _group_out(request, runtime, session, caller, group_id)


@router.put("/Groups/{group_id}")
@one_hop
def replace_group(
    group_id: str,
    request: Request,
    body: BodyDep,
    runtime: RuntimeDep,
    session: SessionDep,
    caller: CallerDep,
) -> Response:
    agency = _agency(session, group_id, caller)
    check_if_match(request, agency.version)
    if not isinstance(body, dict):
        raise ScimError(400, "the body is a JSON object", "invalidSyntax")
    write(
        session,
        caller,
        lambda: agencies.replace(session, agency, body, who=authority(session, caller)),
    )
    return _group_out(request, runtime, session, caller, group_id)


@router.patch("/Groups/{group_id}")
@one_hop
def patch_group(
    group_id: str,
    request: Request,
    body: BodyDep,
    runtime: RuntimeDep,
    session: SessionDep,
    caller: CallerDep,
) -> Response:
    agency = _agency(session, group_id, caller)
    check_if_match(request, agency.version)
    members = scim_repo.members_of(session, [agency.id])[agency.id]
    current = agencies.to_json(agency, members, base_url(runtime))
    patched = read_values(body, lambda b: apply(current, b, GROUP_SCHEMAS))
    write(
        session,
        caller,
        lambda: agencies.replace(session, agency, patched, who=authority(session, caller)),
    )
    return _group_out(request, runtime, session, caller, group_id)


@router.delete("/Groups/{group_id}")
@one_hop
def delete_group(
    group_id: str, request: Request, session: SessionDep, caller: CallerDep
) -> Response:
    agency = _agency(session, group_id, caller)
    check_if_match(request, agency.version)
    write(session, caller, lambda: agencies.delete(session, agency, who=authority(session, caller)))
    return Response(status_code=204)
