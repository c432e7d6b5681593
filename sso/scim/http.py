"""What every SCIM route shares: the caller (a bearer token with the ``scim`` scope), the body
(``application/scim+json`` or JSON), responses in ``application/scim+json`` with ``ETag``, the
error schema (RFC 7644 §3.12), query parameters (RFC 7644 §3.4.2) and attribute projection."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from scim2_models import ScimFilter
from scim2_models.path.expressions import AttrPath
from starlette.concurrency import run_in_threadpool

from sso.core.errors import Conflict, DomainError, NotFound
from sso.runtime import Runtime
from sso.scim.documents import ENTERPRISE, MAX_RESULTS, error, lookup
from sso.scim.patch import PatchRefused
from sso.storage.scim import FilterRefused
from sso.web.deps import RuntimeDep, SessionDep
from sso.web.machine_auth import (
    MachineAuthError,
    MachineCaller,
    authenticate,
    bearer_token,
    check_scopes,
)

PREFIX = "/scim/v2"
MEDIA_TYPE = "application/scim+json"
SCOPE = "scim"
MAX_BODY = 1024 * 1024


class ScimError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type
        self.headers = headers or {}


def scim_response(
    body: Any,
    status: int = 200,
    *,
    version: int | None = None,
    location: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    extra = dict(headers or {})
    if version is not None:
        extra["ETag"] = f'W/"{version}"'
    if location is not None:
        extra["Location"] = location
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=extra,
    )


def error_response(exc: ScimError) -> Response:
    return scim_response(
        error(exc.status, exc.detail, exc.scim_type), exc.status, headers=exc.headers
    )


def from_domain(exc: DomainError) -> ScimError:
    detail = exc.detail or exc.message
    if isinstance(exc, PatchRefused):
        return ScimError(400, detail, exc.scim_type)
    if isinstance(exc, Conflict):
        if exc.message == "admin.conflict":
            return ScimError(412, "the resource changed meanwhile; read it again")
        return ScimError(409, detail, "uniqueness")
    if exc.status_code == 403:
        return ScimError(
            403, "the client may not do this (outside its agencies, or not an admin's client)"
        )
    if isinstance(exc, NotFound):
        return ScimError(400, detail, "invalidValue")
    return ScimError(exc.status_code if exc.status_code < 500 else 400, detail, "invalidValue")


def scim_caller(request: Request, runtime: RuntimeDep, session: SessionDep) -> MachineCaller:
    """A client's own live access token from our /token carrying the ``scim`` scope; the
    refusals of :mod:`sso.web.machine_auth` in SCIM's error format, same status and
    challenge."""
    try:
        caller = authenticate(runtime, session, bearer_token(request.headers.get("authorization")))
        check_scopes(caller, SCOPE)
    except MachineAuthError as exc:
        session.rollback()
        raise ScimError(
            exc.status,
            exc.description or "an access token is required",
            headers={"WWW-Authenticate": exc.challenge},
        ) from exc
    # The route's work goes on in the same transaction (READ COMMITTED on PostgreSQL, and on
    # SQLite a BEGIN IMMEDIATE either way): ending it here cost a ROLLBACK and a trip of the
    # connection through the pool on every request (bench/README.md, SCIM provisioning).
    request.state.machine_caller = caller
    return caller


CallerDep = Annotated[MachineCaller, Depends(scim_caller)]


async def scim_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ScimError(413, "the request body is too large")
    try:
        return json.loads(raw) if raw else None
    except ValueError as exc:
        raise ScimError(400, "the body is not JSON", "invalidSyntax") from exc


BodyDep = Annotated[Any, Depends(scim_body)]


def base_url(runtime: Runtime) -> str:
    return f"{runtime.settings.issuer_url}/scim/v2"


def check_if_match(request: Request, version: int) -> None:
    """``If-Match`` (RFC 7644 §3.14, RFC 7232): a stale version is 412."""
    wanted = request.headers.get("if-match")
    if wanted is None or wanted.strip() == "*":
        return
    tags = {t.strip().removeprefix("W/") for t in wanted.split(",")}
    if f'"{version}"' not in tags:
        raise ScimError(412, "the resource's version is not the one in If-Match")


def not_modified(request: Request, version: int) -> bool:
    wanted = request.headers.get("if-none-match")
    return wanted is not None and f'"{version}"' in {
        t.strip().removeprefix("W/") for t in wanted.split(",")
    }


@dataclass(frozen=True)
class Query:
    filter: Any
    sort_by: AttrPath | None
    descending: bool
    start: int
    count: int
    attributes: list[str]
    excluded: list[str]


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ScimError(400, f"{name} must be an integer", "invalidValue") from exc


def parse_query(params: Any) -> Query:
    """Query parameters of a GET, or the members of a SearchRequest (same names)."""
    text = lookup(params, "filter")
    ast = None
    if text:
        try:
            ast = ScimFilter(str(text)).ast
        except Exception as exc:  # the grammar's errors all mean a bad filter
            raise ScimError(
                400, "the filter is not valid SCIM filter syntax", "invalidFilter"
            ) from exc
    sort_by = None
    if lookup(params, "sortBy"):
        sort_by = _attr_path(str(lookup(params, "sortBy")))
    order = str(lookup(params, "sortOrder") or "ascending").lower()
    start = max(1, _int(lookup(params, "startIndex"), "startIndex", 1))
    count = min(MAX_RESULTS, max(0, _int(lookup(params, "count"), "count", 100)))
    return Query(
        ast,
        sort_by,
        order == "descending",
        start,
        count,
        _names(lookup(params, "attributes")),
        _names(lookup(params, "excludedAttributes")),
    )


def _attr_path(text: str) -> AttrPath:
    uri = None
    lowered = text.lower()
    if lowered.startswith(ENTERPRISE.lower() + ":"):
        uri, text = ENTERPRISE, text[len(ENTERPRISE) + 1 :]
    elif lowered.startswith("urn:"):
        uri, _, text = text.rpartition(":")
    attr, _, sub = text.partition(".")
    return AttrPath(attr=attr, sub_attr=sub or None, uri=uri)


def refused_filter(exc: FilterRefused) -> ScimError:
    return ScimError(400, str(exc), "invalidFilter")


ALWAYS = {"id", "schemas", "meta"}


def project(
    resource: dict[str, Any], attributes: list[str], excluded: list[str], schemas: tuple[str, ...]
) -> dict[str, Any]:
    """``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5); id, schemas and meta stay."""
    if not attributes and not excluded:
        return resource

    def split(name: str) -> tuple[str | None, str, str | None]:
        for urn in schemas:
            if name.lower().startswith(urn.lower() + ":"):
                attr, _, sub = name[len(urn) + 1 :].partition(".")
                return urn, attr.lower(), sub.lower() or None
            if name.lower() == urn.lower():
                return urn, "", None
        attr, _, sub = name.partition(".")
        return None, attr.lower(), sub.lower() or None

    def matching(wanted: list[str], urn: str | None, attr: str) -> list[tuple[str, str | None]]:
        found = []
        for name in wanted:
            w_urn, w_attr, w_sub = split(name)
            if (w_urn or schemas[0]).lower() == (urn or schemas[0]).lower() and w_attr in (
                attr,
                "",
            ):
                found.append((w_attr, w_sub))
        return found

    result: dict[str, Any] = {}
    for key, value in resource.items():
        if key in ALWAYS:
            result[key] = value
            continue
        urn = next((s for s in schemas if s.lower() == key.lower()), None)
        if urn is not None and isinstance(value, dict):
            inner = {
                k: v
                for k, v in value.items()
                if _keep(
                    matching(attributes, urn, k.lower()),
                    matching(excluded, urn, k.lower()),
                    bool(attributes),
                )
            }
            if inner:
                result[key] = inner
            continue
        keep = _keep(
            matching(attributes, None, key.lower()),
            matching(excluded, None, key.lower()),
            bool(attributes),
        )
        if keep:
            result[key] = _sub_project(value, matching(attributes, None, key.lower()))
    return result


def _keep(
    included: list[tuple[str, str | None]], excluded: list[tuple[str, str | None]], listing: bool
) -> bool:
    if listing:
        return bool(included)
    return not any(sub is None for _, sub in excluded)


def _sub_project(value: Any, wanted: list[tuple[str, str | None]]) -> Any:
    subs = {sub for _, sub in wanted if sub}
    if not subs or any(sub is None for _, sub in wanted):
        return value
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k.lower() in subs}
    if isinstance(value, list):
        return [
            {k: v for k, v in e.items() if k.lower() in subs} if isinstance(e, dict) else e
            for e in value
        ]
    return value


PATH_PARAMETERS = ("schema_id", "type_id", "user_id", "group_id", "rest")


def one_hop(route: Callable[..., Response]) -> Callable[..., Awaitable[Response]]:
    """Serve a synchronous route in one trip to the thread pool: the body is read here, then
    the session, the caller's token check and the route's work run together in one worker
    thread (dependencies of their own would each cost a hop, bench/README.md §2). ``route``
    takes any of ``request``, ``runtime``, ``session``, ``caller``, ``body`` and its path
    parameters, by name."""
    wanted = set(inspect.signature(route).parameters)
    unknown = wanted - {"request", "runtime", "session", "caller", "body", *PATH_PARAMETERS}
    if unknown:  # a name this wrapper does not give would fail at every request
        raise TypeError(f"{route.__name__} takes {sorted(unknown)}, which one_hop cannot give")
    path = [p for p in PATH_PARAMETERS if p in wanted]

    async def endpoint(request: Request, **params: str) -> Response:
        body = await scim_body(request) if "body" in wanted else None
        runtime = request.app.state.runtime

        def work() -> Response:
            session = runtime.sessions()
            try:
                caller = scim_caller(request, runtime, session)
                given = {
                    "request": request,
                    "runtime": runtime,
                    "session": session,
                    "caller": caller,
                    "body": body,
                    **params,
                }
                return route(**{k: v for k, v in given.items() if k in wanted})
            finally:
                session.rollback()
                session.close()

        return await run_in_threadpool(work)

    endpoint.__name__ = route.__name__
    endpoint.__doc__ = route.__doc__
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
        + [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, annotation=str) for p in path]
    )
    return endpoint
