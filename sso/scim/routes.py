"""SCIM 2.0 at /scim/v2 (RFC 7644): discovery, Users (staff) and Groups (agencies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from sso.admin.services.authority import Authority, for_machine
from sso.core.errors import DomainError
from sso.db.models import Agency, AuditEvent, User
from sso.scim import agencies, staff
from sso.scim.documents import (
    DISCOVERY,
    ENTERPRISE,
    GROUP_SCHEMA,
    SEARCH_REQUEST,
    USER_SCHEMA,
    list_response,
    lookup,
)
from sso.scim.http import (
    BodyDep,
    CallerDep,
    Query,
    ScimError,
    base_url,
    check_if_match,
    error_response,
    from_domain,
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

PREFIX = "/scim/v2"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
USER_SCHEMAS = (USER_SCHEMA, ENTERPRISE)
GROUP_SCHEMAS = (GROUP_SCHEMA,)


async def _scim_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScimError)
    return error_response(exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ScimError, _scim_error)


def _write(session: Session, caller: MachineCaller, change: Callable[[], Any]) -> Any:
    """Run a change and commit it; domain refusals and stale versions become SCIM errors.
    The services record their audit events with no person as actor; the client is the actor,
    so its id goes on each of them."""

    def stamp(_session: Session, row: object) -> None:
        if isinstance(row, AuditEvent) and row.client_id is None:
            row.client_id = caller.client_id

    event.listen(session, "transient_to_pending", stamp)
    try:
        result = change()
        session.commit()
        session.expire_all()  # relationships (a person's agency) are read again
    except DomainError as exc:
        session.rollback()
        raise from_domain(exc) from exc
    except StaleDataError as exc:
        session.rollback()
        raise ScimError(412, "the resource changed meanwhile; read it again") from exc
    finally:
        event.remove(session, "transient_to_pending", stamp)
    return result


def _who(session: Session, caller: MachineCaller) -> Authority:
    """The client acts as an admin, or as an opd-admin of the agency it is limited to."""
    return for_machine(session, "users.manage", caller.agency_id)


# ----------------------------------------------------------------------------------- Users


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
    runtime: Any,
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


def _search_users(
    runtime: Any, session: Session, query: Query, caller: MachineCaller
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
        _search_users(runtime, session, parse_query(dict(request.query_params)), caller)
    )


@router.post("/Users/.search")
@one_hop
def search_users(
    body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    _search_request(body)
    return scim_response(_search_users(runtime, session, parse_query(body), caller))


def _search_request(body: Any) -> None:
    if not isinstance(body, dict) or SEARCH_REQUEST not in (lookup(body, "schemas") or []):
        raise ScimError(400, f"a search body is a {SEARCH_REQUEST} message", "invalidSyntax")


@router.post("/Users")
@one_hop
def create_user(
    request: Request, body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    values = _values(body, staff.values_from)
    url = base_url(runtime)

    def create() -> tuple[dict[str, Any], int]:
        user = staff.create(session, runtime.password_hasher, values, who=_who(session, caller))
        session.flush()
        return staff.to_json(user, url), user.version  # all known now: no read after commit

    created, version = _write(session, caller, create)
    query = parse_query(dict(request.query_params))
    return scim_response(
        project(created, query.attributes, query.excluded, USER_SCHEMAS),
        201,
        version=version,
        location=created["meta"]["location"],
    )


def _values(body: Any, read: Callable[[dict[str, Any]], Any]) -> Any:
    if not isinstance(body, dict):
        raise ScimError(400, "the body is a JSON object", "invalidSyntax")
    try:
        return read(body)
    except DomainError as exc:
        raise from_domain(exc) from exc


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
    values = _values(body, staff.values_from)
    _write(session, caller, lambda: staff.replace(session, user, values, who=_who(session, caller)))
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
    patched = _values(body, lambda b: apply(current, b, USER_SCHEMAS))
    values = _values(patched, staff.values_from)
    _write(session, caller, lambda: staff.replace(session, user, values, who=_who(session, caller)))
    return _user_out(request, runtime, session, caller, user_id)


@router.delete("/Users/{user_id}")
@one_hop
def delete_user(user_id: str, request: Request, session: SessionDep, caller: CallerDep) -> Response:
    user = _user(session, user_id, caller)
    check_if_match(request, user.version)
    _write(session, caller, lambda: staff.delete(session, user, who=_who(session, caller)))
    return Response(status_code=204)


# ---------------------------------------------------------------------------------- Groups


def _agency(session: Session, group_id: str, caller: MachineCaller) -> Agency:
    agency = (
        session.get(Agency, int(group_id)) if group_id.isdigit() and len(group_id) < 10 else None
    )
    if agency is None or (caller.agencies is not None and agency.id not in caller.agencies):
        raise ScimError(404, f"no Group {group_id}")
    return agency


def _group_out(
    request: Request,
    runtime: Any,
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


def _search_groups(
    runtime: Any, session: Session, query: Query, caller: MachineCaller
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
        _search_groups(runtime, session, parse_query(dict(request.query_params)), caller)
    )


@router.post("/Groups/.search")
@one_hop
def search_groups(
    body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    _search_request(body)
    return scim_response(_search_groups(runtime, session, parse_query(body), caller))


@router.post("/Groups")
@one_hop
def create_group(
    request: Request, body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    if not isinstance(body, dict):
        raise ScimError(400, "the body is a JSON object", "invalidSyntax")
    agency = _write(
        session, caller, lambda: agencies.create(session, body, who=_who(session, caller))
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
    _write(
        session, caller, lambda: agencies.replace(session, agency, body, who=_who(session, caller))
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
    patched = _values(body, lambda b: apply(current, b, GROUP_SCHEMAS))
    _write(
        session,
        caller,
        lambda: agencies.replace(session, agency, patched, who=_who(session, caller)),
    )
    return _group_out(request, runtime, session, caller, group_id)


@router.delete("/Groups/{group_id}")
@one_hop
def delete_group(
    group_id: str, request: Request, session: SessionDep, caller: CallerDep
) -> Response:
    agency = _agency(session, group_id, caller)
    check_if_match(request, agency.version)
    _write(session, caller, lambda: agencies.delete(session, agency, who=_who(session, caller)))
    return Response(status_code=204)


@router.post("/.search")
@one_hop
def search_everything(
    body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    """A search at the root (RFC 7644 §3.4.3) covers Users, then Groups, paged as one list."""
    _search_request(body)
    query = parse_query(body)
    users = _search_users(runtime, session, query, caller)
    # The groups follow the users: skip what the start index passed beyond the users, fill
    # what the users left of the count.
    groups = _search_groups(
        runtime,
        session,
        Query(
            query.filter,
            query.sort_by,
            query.descending,
            max(1, query.start - users["totalResults"]),
            query.count - len(users["Resources"]),
            query.attributes,
            query.excluded,
        ),
        caller,
    )
    found = users["Resources"] + groups["Resources"]
    return scim_response(
        list_response(found, users["totalResults"] + groups["totalResults"], query.start)
    )


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@one_hop
def unknown(rest: str, request: Request, caller: CallerDep) -> Response:
    if rest.split("/", 1)[0].lower() in DISCOVERY:
        raise ScimError(
            405, f"{request.method} is not allowed on /{rest}", headers={"Allow": "GET"}
        )
    raise ScimError(404, f"no SCIM endpoint /{rest}")
