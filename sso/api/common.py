"""What every route of the Admin API shares: the call (caller, session, the rules applied to
it), keyset pages with ``Link`` headers (RFC 8288), ``ETag`` / ``If-Match`` (RFC 9110 §8.8.3,
§13.1.1), and answers that are never cached."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from sso.admin.services import authority
from sso.admin.services.authority import Authority
from sso.core.crypto import keyed_hash
from sso.db.models import User
from sso.storage import audit
from sso.web.app_runtime import AppRuntime
from sso.web.deps import RuntimeDep, SessionDep
from sso.web.load_shedding import WindowCounters
from sso.web.machine_auth import (
    ADMIN_READ,
    ADMIN_WRITE,
    MachineCaller,
    require_scopes,
)
from sso.web.problems import Problem

NO_STORE = {"Cache-Control": "no-store"}
# Integer ids in paths, bounded by their columns (a larger number is a 400, not a driver error).
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_LIMIT = 200


@dataclass
class Call:
    """One call of the API: who calls, its database session, and the console's rules."""

    caller: MachineCaller
    session: Session
    runtime: AppRuntime
    request: Request

    def allow(self, permission: str) -> Authority:
        """The caller's authority for ``permission`` (refused with 403 when it has none: an
        agency-limited client is an opd-admin, who may not manage clients, keys …)."""
        who = authority.for_machine(self.session, permission, self.caller.agency_id)
        authority.check_permission(who, permission, path=self.request.url.path)
        return who

    def person(self, target: User, permission: str) -> Authority:
        who = self.allow(permission)
        authority.check_person(self.session, who, target, permission)
        return who

    def commit(self) -> None:
        self.session.commit()


async def limit_client(runtime: AppRuntime, caller: MachineCaller) -> None:
    """The per-client budget of /token (``SSO_RATE_LIMIT_CLIENT_PER_MINUTE``) for API calls:
    over it, 429 with ``Retry-After`` (seconds to the end of the minute)."""
    per_client = runtime.settings.rate_limit_client_per_minute
    if per_client <= 0:
        return
    counters = runtime.api_rate
    key = (
        "api-client:"
        + keyed_hash(runtime.secret_key, caller.client_id, purpose="rate:api-client")[:32]
    )
    if await counters.add(key) > per_client:
        _number, left = WindowCounters.window()
        raise Problem(
            429,
            "Too many calls from this client: wait, then retry.",
            code="too_many_requests",
            headers={"Retry-After": str(left)},
        )


def _call(
    caller: MachineCaller, request: Request, runtime: RuntimeDep, session: SessionDep
) -> Call:
    # Every event the services record in this call names the client as who caused it.
    audit.act_for_client(session, caller.client_id)
    return Call(caller, session, runtime, request)


async def _reader(
    caller: Annotated[MachineCaller, Depends(require_scopes(ADMIN_READ))],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
) -> Call:
    await limit_client(runtime, caller)
    return _call(caller, request, runtime, session)


async def _writer(
    caller: Annotated[MachineCaller, Depends(require_scopes(ADMIN_WRITE))],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
) -> Call:
    await limit_client(runtime, caller)
    return _call(caller, request, runtime, session)


Reader = Annotated[Call, Depends(_reader)]
Writer = Annotated[Call, Depends(_writer)]


# ---------------------------------------------------------------------------- pages


def encode_cursor(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> Any:
    if not text:
        return None
    try:
        padded = text + "=" * (-len(text) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(
            400, "The page cursor is not one this API gave out.", code="invalid_cursor"
        ) from None


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: Any
    before: Any


def _page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    after: Annotated[
        str | None, Query(max_length=500, description="Cursor of the next page (from Link).")
    ] = None,
    before: Annotated[
        str | None, Query(max_length=500, description="Cursor of the previous page (from Link).")
    ] = None,
) -> PageRequest:
    if after and before:
        raise Problem(400, "Give either after or before, not both.", code="invalid_cursor")
    return PageRequest(limit, decode_cursor(after), decode_cursor(before))


Paging = Annotated[PageRequest, Depends(_page_request)]


def page_response(
    request: Request,
    items: list[dict[str, Any]],
    *,
    first_key: Any,
    last_key: Any,
    more_before: bool,
    more_after: bool,
) -> JSONResponse:
    """``{"items": […]}`` with ``Link: <…>; rel="next"`` / ``rel="prev"`` where they lead
    somewhere (the other query parameters kept)."""
    keep = [(k, v) for k, v in request.query_params.multi_items() if k not in ("after", "before")]
    base = str(request.url.replace(query=""))
    links = []
    if more_after and last_key is not None:
        query = urlencode([*keep, ("after", encode_cursor(last_key))])
        links.append(f'<{base}?{query}>; rel="next"')
    if more_before and first_key is not None:
        query = urlencode([*keep, ("before", encode_cursor(first_key))])
        links.append(f'<{base}?{query}>; rel="prev"')
    headers = dict(NO_STORE)
    if links:
        headers["Link"] = ", ".join(links)
    return JSONResponse({"items": items}, headers=headers)


# ---------------------------------------------------------------------------- ETags


def etag_of(body: Mapping[str, Any]) -> str:
    """The validator of a record. A versioned one (users, agencies, clients, webhooks: the
    console's optimistic locking) is tagged by its identity and version, so what changes
    without a change of the record (a delivery count, say) does not fail a write; any other
    by the whole representation."""
    if "version" in body:
        body = {k: body[k] for k in ("id", "code", "client_id", "version") if k in body}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def check_if_match(request: Request, current: Mapping[str, Any], *, required: bool) -> None:
    """RFC 9110 §13.1.1: 412 when ``If-Match`` names another representation than the current
    one (someone changed it since the caller read it: the console's conflict rule); 428
    (RFC 6585) when a change of a versioned record comes without it."""
    header = request.headers.get("if-match")
    if header is None:
        if required:
            raise Problem(
                428,
                "Send If-Match with the ETag of the record you read.",
                code="precondition_required",
            )
        return
    if header.strip() == "*":
        return
    if etag_of(current) not in _tags(header):
        raise Problem(
            412,
            "The record changed since you read it: read it again, then retry.",
            code="admin.conflict",
        )


def resource(
    body: Mapping[str, Any], status: int = 200, location: str | None = None
) -> JSONResponse:
    headers = {**NO_STORE, "ETag": etag_of(body)}
    if location:
        headers["Location"] = location
    return JSONResponse(dict(body), status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204, headers=NO_STORE)


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


Serializer = Callable[..., dict[str, Any]]

__all__ = [
    "NO_STORE",
    "Call",
    "EventId",
    "RowId",
    "Paging",
    "Reader",
    "Writer",
    "check_if_match",
    "decode_cursor",
    "encode_cursor",
    "etag_of",
    "iso",
    "no_content",
    "page_response",
    "resource",
]
