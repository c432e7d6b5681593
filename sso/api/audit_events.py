"""``/audit-events``: the audit log, newest first, filtered like the console's (event name or
``prefix.``, actor, target, person, client, time range). Read-only: the log is append-only.
Admins (and auditors in the console) only: an agency-limited client is refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from sso.api.common import EventId, Paging, Reader, iso, page_response, resource
from sso.core.errors import NotFound
from sso.db.models import AuditEvent
from sso.storage import audit_queries
from sso.web.problems import Problem

router = APIRouter(prefix="/audit-events", tags=["audit events"])


class AuditEventOut(BaseModel):
    id: int
    created_at: str
    event: str
    outcome: str
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    client_id: str | None
    ip: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditEventList(BaseModel):
    items: list[AuditEventOut]


def event_body(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "created_at": iso(e.created_at),
        "event": e.event,
        "outcome": e.outcome,
        "actor_id": e.actor_id,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "client_id": e.client_id,
        "ip": e.ip,
        "request_id": e.request_id,
        "details": dict(e.details or {}),
    }


def _key(value: Any) -> audit_queries.Key | None:
    if value is None:
        return None
    try:
        when, event_id = value
        return datetime.fromisoformat(when), int(event_id)
    except (TypeError, ValueError):
        raise Problem(
            400, "The page cursor is not one this API gave out.", code="invalid_cursor"
        ) from None


def _cursor(e: AuditEvent) -> list[Any]:
    return [e.created_at.isoformat(), e.id]


@router.get("", response_model=AuditEventList)
def list_events(
    call: Reader,
    paging: Paging,
    event: Annotated[
        str | None, Query(max_length=64, description="A name, or a prefix ending in '.'.")
    ] = None,
    actor_id: Annotated[str | None, Query(max_length=36)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    person_id: Annotated[
        str | None, Query(max_length=36, description="The person acted or was acted upon.")
    ] = None,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(description="From (inclusive), ISO 8601.")] = None,
    until: Annotated[datetime | None, Query(description="Until (exclusive), ISO 8601.")] = None,
) -> Response:
    call.allow("audit.view")
    f = audit_queries.AuditFilter(
        event=event or None,
        actor_id=actor_id,
        target_id=target_id,
        person_id=person_id,
        client_ids=(client_id,) if client_id else None,
        since=since,
        until=until,
    )
    # The list runs newest first: "after" a key is older than it, "before" it is newer.
    found = audit_queries.page(
        call.session, f, before=_key(paging.after), after=_key(paging.before), limit=paging.limit
    )
    rows = list(found.rows)
    return page_response(
        call.request,
        [event_body(e) for e in rows],
        first_key=_cursor(rows[0]) if rows else None,
        last_key=_cursor(rows[-1]) if rows else None,
        more_before=found.newer is not None,
        more_after=found.older is not None,
    )


@router.get("/{event_id}", response_model=AuditEventOut)
def get_event(call: Reader, event_id: EventId) -> Response:
    call.allow("audit.view")
    found = audit_queries.get(call.session, event_id)
    if found is None:
        raise NotFound("admin.audit.unknown")
    return resource(event_body(found))
