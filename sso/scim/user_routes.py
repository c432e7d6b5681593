"""SCIM Users (RFC 7644 §3, RFC 7643 §4.1): staff, created, read, searched, replaced, patched
and deleted through :mod:`sso.scim.staff` (and :mod:`sso.scim.provision` for a create)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.db.models import User
from sso.runtime import Runtime
from sso.scim import provision, staff
from sso.scim.changes import authority, read_values, search_request, write
from sso.scim.documents import ENTERPRISE, USER_SCHEMA, list_response
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
USER_SCHEMAS = (USER_SCHEMA, ENTERPRISE)


def _user(session: Session, user_id: str, caller: MachineCaller) -> User:
    user = session.get(User, user_id[:36])
    if (
        user is None
        or user.kind != "staff"
        or (caller.agencies is not None and user.agency_id not in caller.agencies)
    ):
        raise ScimError(404, f"no User {user_id}")
    return user


def _user_out(
    request: Request,
    runtime: Runtime,
    session: Session,
    caller: MachineCaller,
    user_id: str,
    status: int = 200,
) -> Response:
    user = _user(session, user_id, caller)
    body = staff.to_json(user, base_url(runtime))
    query = parse_query(dict(request.query_params))
    return scim_response(
        project(body, query.attributes, query.excluded, USER_SCHEMAS),
        status,
        version=user.version,
        location=body["meta"]["location"],
    )


def search_users_of(
    runtime: Runtime, session: Session, query: Query, caller: MachineCaller
) -> dict[str, Any]:
    try:
        condition = (
            None
            if query.filter is None
            else scim_repo.compile_filter(query.filter, scim_repo.USER_ATTRIBUTES)
        )
        page = scim_repo.search_staff(
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
    found = [
        project(staff.to_json(u, url), query.attributes, query.excluded, USER_SCHEMAS)
        for u in page.rows
    ]
    return list_response(found, page.total, query.start)


@router.get("/Users")
@one_hop
def list_users(
    request: Request, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    return scim_response(
        search_users_of(runtime, session, parse_query(dict(request.query_params)), caller)
    )


@router.post("/Users/.search")
@one_hop
def search_users(
    body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    search_request(body)
    return scim_response(search_users_of(runtime, session, parse_query(body), caller))


@router.post("/Users")
@one_hop
def create_user(
    request: Request, body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    values = read_values(body, staff.values_from)
    url = base_url(runtime)

    def create() -> tuple[dict[str, Any], int]:
        user = staff.create(
            session, runtime.password_hasher, values, who=authority(session, caller)
        )
        session.flush()
        return staff.to_json(user, url), user.version  # all known now: no read after commit

    if values.active:  # the provisioning path: same rules, one SELECT and two INSERTs
        created, version = provision.commit_create(session, caller, values, base_url=url)
    else:
        created, version = write(session, caller, create)
    query = parse_query(dict(request.query_params))
    return scim_response(
        project(created, query.attributes, query.excluded, USER_SCHEMAS),
        201,
        version=version,
        location=created["meta"]["location"],
    )


@router.get("/Users/{user_id}")
@one_hop
def get_user(
    user_id: str, request: Request, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    user = _user(session, user_id, caller)
    if not_modified(request, user.version):
        return Response(status_code=304, headers={"ETag": f'W/"{user.version}"'})
    return _user_out(request, runtime, session, caller, user_id)


@router.put("/Users/{user_id}")
@one_hop
def replace_user(
    user_id: str,
    request: Request,
    body: BodyDep,
    runtime: RuntimeDep,
    session: SessionDep,
    caller: CallerDep,
) -> Response:
    user = _user(session, user_id, caller)
    check_if_match(request, user.version)
    values = read_values(body, staff.values_from)
    write(
        session,
        caller,
        lambda: staff.replace(session, user, values, who=authority(session, caller)),
    )
    return _user_out(request, runtime, session, caller, user_id)


@router.patch("/Users/{user_id}")
@one_hop
def patch_user(
    user_id: str,
    request: Request,
    body: BodyDep,
    runtime: RuntimeDep,
    session: SessionDep,
    caller: CallerDep,
) -> Response:
    user = _user(session, user_id, caller)
    check_if_match(request, user.version)
    current = staff.to_json(user, base_url(runtime))
    patched = read_values(body, lambda b: apply(current, b, USER_SCHEMAS))
    values = read_values(patched, staff.values_from)
    write(
        session,
        caller,
        lambda: staff.replace(session, user, values, who=authority(session, caller)),
    )
    return _user_out(request, runtime, session, caller, user_id)


@router.delete("/Users/{user_id}")
@one_hop
def delete_user(user_id: str, request: Request, session: SessionDep, caller: CallerDep) -> Response:
    user = _user(session, user_id, caller)
    check_if_match(request, user.version)
    write(session, caller, lambda: staff.delete(session, user, who=authority(session, caller)))
    return Response(status_code=204)
