"""SCIM 2.0 at /scim/v2 (RFC 7644): discovery, Users (staff) and Groups (agencies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from sso.core.errors import DomainError
from sso.db.models import Agency, User
from sso.scim import agencies, staff
from sso.scim.documents import (
    DISCOVERY,
    ENTERPRISE,
    GROUP_SCHEMA,
    SEARCH_REQUEST,
    USER_SCHEMA,
    list_response,
    lookup,
    resource_types,
    schemas,
    service_provider_config,
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
    parse_query,
    project,
    refused_filter,
    scim_response,
)
from sso.scim.patch import apply
from sso.storage import scim as scim_repo
from sso.storage.agencies import list_all
from sso.web.deps import RuntimeDep, SessionDep
from sso.web.routes.interaction import password_hasher

PREFIX = "/scim/v2"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
USER_SCHEMAS = (USER_SCHEMA, ENTERPRISE)
GROUP_SCHEMAS = (GROUP_SCHEMA,)


async def _scim_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScimError)
    return error_response(exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ScimError, _scim_error)


def _write(session: Session, change: Callable[[], Any]) -> Any:
    """Run a change and commit it; domain refusals and stale versions become SCIM errors."""
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
    return result


# ------------------------------------------------------------------------------- discovery


@router.get("/ServiceProviderConfig")
def get_service_provider_config(runtime: RuntimeDep, _caller: CallerDep) -> Response:
    return scim_response(service_provider_config(base_url(runtime)))


def _schemas(runtime: Any, session: Session) -> list[dict[str, Any]]:
    return schemas(base_url(runtime), [a.code for a in list_all(session)])


@router.get("/Schemas")
def list_schemas(runtime: RuntimeDep, session: SessionDep, _caller: CallerDep) -> Response:
    found = _schemas(runtime, session)
    return scim_response(list_response(found, len(found), 1))


@router.get("/Schemas/{schema_id}")
def get_schema(schema_id: str, runtime: RuntimeDep, session: SessionDep,
               _caller: CallerDep) -> Response:
    for schema in _schemas(runtime, session):
        if schema["id"].lower() == schema_id.lower():
            return scim_response(schema)
    raise ScimError(404, f"no schema {schema_id}")


@router.get("/ResourceTypes")
def list_resource_types(runtime: RuntimeDep, _caller: CallerDep) -> Response:
    found = resource_types(base_url(runtime))
    return scim_response(list_response(found, len(found), 1))


@router.get("/ResourceTypes/{type_id}")
def get_resource_type(type_id: str, runtime: RuntimeDep, _caller: CallerDep) -> Response:
    for resource_type in resource_types(base_url(runtime)):
        if resource_type["id"].lower() == type_id.lower():
            return scim_response(resource_type)
    raise ScimError(404, f"no resource type {type_id}")


# ----------------------------------------------------------------------------------- Users


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id[:36])
    if user is None or user.kind != "staff":
        raise ScimError(404, f"no User {user_id}")
    return user


def _user_out(request: Request, runtime: Any, session: Session, user_id: str,
              status: int = 200) -> Response:
    user = _user(session, user_id)
    body = staff.to_json(user, base_url(runtime))
    query = parse_query(dict(request.query_params))
    return scim_response(project(body, query.attributes, query.excluded, USER_SCHEMAS), status,
                         version=user.version, location=body["meta"]["location"])


def _search_users(runtime: Any, session: Session, query: Query) -> dict[str, Any]:
    try:
        condition = (None if query.filter is None
                     else scim_repo.compile_filter(query.filter, scim_repo.USER_ATTRIBUTES))
        page = scim_repo.search_staff(session, condition, sort_by=query.sort_by,
                                      descending=query.descending, start=query.start,
                                      count=query.count)
    except scim_repo.FilterRefused as exc:
        raise refused_filter(exc) from exc
    url = base_url(runtime)
    found = [project(staff.to_json(u, url), query.attributes, query.excluded, USER_SCHEMAS)
             for u in page.rows]
    return list_response(found, page.total, query.start)


@router.get("/Users")
def list_users(request: Request, runtime: RuntimeDep, session: SessionDep,
               _caller: CallerDep) -> Response:
    return scim_response(_search_users(runtime, session, parse_query(dict(request.query_params))))


@router.post("/Users/.search")
def search_users(body: BodyDep, runtime: RuntimeDep, session: SessionDep,
                 _caller: CallerDep) -> Response:
    _search_request(body)
    return scim_response(_search_users(runtime, session, parse_query(body)))


def _search_request(body: Any) -> None:
    if not isinstance(body, dict) or SEARCH_REQUEST not in (lookup(body, "schemas") or []):
        raise ScimError(400, f"a search body is a {SEARCH_REQUEST} message", "invalidSyntax")


@router.post("/Users")
def create_user(request: Request, body: BodyDep, runtime: RuntimeDep, session: SessionDep,
                caller: CallerDep) -> Response:
    values = _values(body, staff.values_from)
    user = _write(session, lambda: staff.create(
        session, password_hasher(runtime), values, client_id=caller.client_id))
    return _user_out(request, runtime, session, user.id, 201)


def _values(body: Any, read: Callable[[dict[str, Any]], Any]) -> Any:
    if not isinstance(body, dict):
        raise ScimError(400, "the body is a JSON object", "invalidSyntax")
    try:
        return read(body)
    except DomainError as exc:
        raise from_domain(exc) from exc


@router.get("/Users/{user_id}")
def get_user(user_id: str, request: Request, runtime: RuntimeDep, session: SessionDep,
             _caller: CallerDep) -> Response:
    user = _user(session, user_id)
    if not_modified(request, user.version):
        return Response(status_code=304, headers={"ETag": f'W/"{user.version}"'})
    return _user_out(request, runtime, session, user_id)


@router.put("/Users/{user_id}")
def replace_user(user_id: str, request: Request, body: BodyDep, runtime: RuntimeDep,
                 session: SessionDep, caller: CallerDep) -> Response:
    user = _user(session, user_id)
    check_if_match(request, user.version)
    values = _values(body, staff.values_from)
    _write(session, lambda: staff.replace(session, user, values, client_id=caller.client_id))
    return _user_out(request, runtime, session, user_id)


@router.patch("/Users/{user_id}")
def patch_user(user_id: str, request: Request, body: BodyDep, runtime: RuntimeDep,
               session: SessionDep, caller: CallerDep) -> Response:
    user = _user(session, user_id)
    check_if_match(request, user.version)
    current = staff.to_json(user, base_url(runtime))
    patched = _values(body, lambda b: apply(current, b, USER_SCHEMAS))
    values = _values(patched, staff.values_from)
    _write(session, lambda: staff.replace(session, user, values, client_id=caller.client_id))
    return _user_out(request, runtime, session, user_id)


@router.delete("/Users/{user_id}")
def delete_user(user_id: str, request: Request, session: SessionDep,
                caller: CallerDep) -> Response:
    user = _user(session, user_id)
    check_if_match(request, user.version)
    _write(session, lambda: staff.delete(session, user, client_id=caller.client_id))
    return Response(status_code=204)


# ---------------------------------------------------------------------------------- Groups


def _agency(session: Session, group_id: str) -> Agency:
    agency = session.get(Agency, int(group_id)) if group_id.isdigit() and len(group_id) < 10 \
        else None
    if agency is None:
        raise ScimError(404, f"no Group {group_id}")
    return agency


def _group_out(request: Request, runtime: Any, session: Session, group_id: str,
               status: int = 200) -> Response:
    agency = _agency(session, group_id)
    members = scim_repo.members_of(session, [agency.id])[agency.id]
    body = agencies.to_json(agency, members, base_url(runtime))
    query = parse_query(dict(request.query_params))
    return scim_response(project(body, query.attributes, query.excluded, GROUP_SCHEMAS), status,
                         version=agency.version, location=body["meta"]["location"])


def _search_groups(runtime: Any, session: Session, query: Query) -> dict[str, Any]:
    try:
        condition = (None if query.filter is None
                     else scim_repo.compile_filter(query.filter, scim_repo.GROUP_ATTRIBUTES))
        page = scim_repo.search_agencies(session, condition, sort_by=query.sort_by,
                                         descending=query.descending, start=query.start,
                                         count=query.count)
    except scim_repo.FilterRefused as exc:
        raise refused_filter(exc) from exc
    url = base_url(runtime)
    members = scim_repo.members_of(session, [a.id for a in page.rows])
    found = [project(agencies.to_json(a, members[a.id], url), query.attributes, query.excluded,
                     GROUP_SCHEMAS) for a in page.rows]
    return list_response(found, page.total, query.start)


@router.get("/Groups")
def list_groups(request: Request, runtime: RuntimeDep, session: SessionDep,
                _caller: CallerDep) -> Response:
    return scim_response(_search_groups(runtime, session, parse_query(dict(request.query_params))))


@router.post("/Groups/.search")
def search_groups(body: BodyDep, runtime: RuntimeDep, session: SessionDep,
                  _caller: CallerDep) -> Response:
    _search_request(body)
    return scim_response(_search_groups(runtime, session, parse_query(body)))


@router.post("/Groups")
def create_group(request: Request, body: BodyDep, runtime: RuntimeDep, session: SessionDep,
                 caller: CallerDep) -> Response:
    if not isinstance(body, dict):
        raise ScimError(400, "the body is a JSON object", "invalidSyntax")
    agency = _write(session, lambda: agencies.create(session, body, client_id=caller.client_id))
    return _group_out(request, runtime, session, str(agency.id), 201)


@router.get("/Groups/{group_id}")
def get_group(group_id: str, request: Request, runtime: RuntimeDep, session: SessionDep,
              _caller: CallerDep) -> Response:
    agency = _agency(session, group_id)
    if not_modified(request, agency.version):
        return Response(status_code=304, headers={"ETag": f'W/"{agency.version}"'})
    return _group_out(request, runtime, session, group_id)


@router.put("/Groups/{group_id}")
def replace_group(group_id: str, request: Request, body: BodyDep, runtime: RuntimeDep,
                  session: SessionDep, caller: CallerDep) -> Response:
    agency = _agency(session, group_id)
    check_if_match(request, agency.version)
    if not isinstance(body, dict):
        raise ScimError(400, "the body is a JSON object", "invalidSyntax")
    _write(session, lambda: agencies.replace(session, agency, body, client_id=caller.client_id))
    return _group_out(request, runtime, session, group_id)


@router.patch("/Groups/{group_id}")
def patch_group(group_id: str, request: Request, body: BodyDep, runtime: RuntimeDep,
                session: SessionDep, caller: CallerDep) -> Response:
    agency = _agency(session, group_id)
    check_if_match(request, agency.version)
    members = scim_repo.members_of(session, [agency.id])[agency.id]
    current = agencies.to_json(agency, members, base_url(runtime))
    patched = _values(body, lambda b: apply(current, b, GROUP_SCHEMAS))
    _write(session, lambda: agencies.replace(session, agency, patched,
                                             client_id=caller.client_id))
    return _group_out(request, runtime, session, group_id)


@router.delete("/Groups/{group_id}")
def delete_group(group_id: str, request: Request, session: SessionDep,
                 caller: CallerDep) -> Response:
    agency = _agency(session, group_id)
    check_if_match(request, agency.version)
    _write(session, lambda: agencies.delete(session, agency, client_id=caller.client_id))
    return Response(status_code=204)


@router.post("/.search")
def search_everything(body: BodyDep, runtime: RuntimeDep, session: SessionDep,
                      _caller: CallerDep) -> Response:
    """A search at the root (RFC 7644 §3.4.3) covers Users, then Groups, paged as one list."""
    _search_request(body)
    query = parse_query(body)
    users = _search_users(runtime, session, query)
    # The groups follow the users: skip what the start index passed beyond the users, fill
    # what the users left of the count.
    groups = _search_groups(runtime, session, Query(
        query.filter, query.sort_by, query.descending,
        max(1, query.start - users["totalResults"]),
        query.count - len(users["Resources"]), query.attributes, query.excluded))
    found = users["Resources"] + groups["Resources"]
    return scim_response(list_response(found, users["totalResults"] + groups["totalResults"],
                                       query.start))


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(rest: str, request: Request, _caller: CallerDep) -> Response:
    if rest.split("/", 1)[0].lower() in DISCOVERY:
        raise ScimError(405, f"{request.method} is not allowed on /{rest}",
                        headers={"Allow": "GET"})
    raise ScimError(404, f"no SCIM endpoint /{rest}")
