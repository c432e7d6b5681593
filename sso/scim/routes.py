"""SCIM 2.0 at /scim/v2 (RFC 7644): the router of Users (:mod:`sso.scim.user_routes`) and
Groups (:mod:`sso.scim.group_routes`), the search at the root, the SCIM 404/405 for any other
path under the prefix, and the error handler. Discovery is :mod:`sso.scim.discovery`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from sso.scim import group_routes, user_routes
from sso.scim.changes import search_request
from sso.scim.documents import DISCOVERY, list_response
from sso.scim.group_routes import search_groups_of
from sso.scim.http import (
    PREFIX,
    BodyDep,
    CallerDep,
    Query,
    ScimError,
    error_response,
    one_hop,
    parse_query,
    scim_response,
)
from sso.scim.user_routes import search_users_of
from sso.web.deps import RuntimeDep, SessionDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)
router.include_router(user_routes.router)
router.include_router(group_routes.router)
__all__ = ["PREFIX", "install", "router"]


async def _scim_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScimError)
    return error_response(exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ScimError, _scim_error)


@router.post("/.search")
@one_hop
def search_everything(
    body: BodyDep, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    """A search at the root (RFC 7644 §3.4.3) covers Users, then Groups, paged as one list."""
    search_request(body)
    query = parse_query(body)
    users = search_users_of(runtime, session, query, caller)
    # The groups follow the users: skip what the start index passed beyond the users, fill
    # what the users left of the count.
    groups = search_groups_of(
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
