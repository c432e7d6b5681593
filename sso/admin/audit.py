"""``/admin/audit``: the audit log, newest first, filtered by event, actor, target and dates
(keyset pages), and ``/admin/audit.csv``: the same selection streamed as CSV in batches. The
log is append-only: nothing here (or anywhere in the app) updates or deletes an event."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_login
from sso.admin.access import runtime_of, staff
from sso.admin.views import page
from sso.core import events
from sso.storage import audit, audit_queries
from sso.storage import users as user_repo
from sso.storage.audit_queries import LOCAL_OFFSET, AuditFilter
from sso.web.deps import SessionDep

router = APIRouter()
CSV_COLUMNS = ("id", "created_at", "event", "outcome", "actor_id", "target_type", "target_id",
               "client_id", "ip", "user_agent", "request_id", "details")


def _day(text: str | None) -> datetime | None:
    """A local (WIB) calendar day as the UTC instant it starts."""
    try:
        d = date.fromisoformat((text or "")[:10])
    except ValueError:
        return None
    return datetime(d.year, d.month, d.day, tzinfo=UTC) - LOCAL_OFFSET


def _filter(session: Session, request: Request) -> tuple[AuditFilter, dict[str, str]]:
    qp = request.query_params
    shown = {k: qp.get(k, "")[:200].strip() for k in ("event", "actor", "target", "from", "to")}
    actor = shown["actor"]
    actor_id = None
    if actor:
        found = user_repo.find_by_login(session, normalize_login(actor))
        actor_id = found.id if found else actor
    until = _day(shown["to"])
    return AuditFilter(
        event=shown["event"] or None, actor_id=actor_id, target_id=shown["target"] or None,
        since=_day(shown["from"]), until=until + timedelta(days=1) if until else None,
    ), shown


@router.get("/admin/audit")
def audit_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "audit.view")
    f, shown = _filter(session, request)
    before = request.query_params.get("before", "")
    rows, nxt = audit_queries.page(session, f, before_id=int(before) if before.isdigit() else None)
    next_query = {**{k: v for k, v in shown.items() if v}, "before": str(nxt)} if nxt else None
    export_query = {k: v for k, v in shown.items() if v}
    return page(request, "admin/audit.html", who, {
        "events": rows, "filters": shown, "next_query": next_query, "export_query": export_query})


@router.get("/admin/audit.csv")
def audit_csv(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "audit.view")
    f, shown = _filter(session, request)
    audit.record(session, events.AUDIT_EXPORTED, actor_id=who.user.id, target_type="audit",
                 filters={k: v for k, v in shown.items() if v})
    session.commit()
    runtime = runtime_of(request)

    def rows() -> Iterator[str]:
        # A session of its own: the request's is closed once the response starts streaming.
        with runtime.sessions() as s:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(CSV_COLUMNS)
            for batch in audit_queries.batches(s, f):
                for e in batch:
                    writer.writerow([
                        e.id, e.created_at.isoformat(), e.event, e.outcome, e.actor_id or "",
                        e.target_type or "", e.target_id or "", e.client_id or "", e.ip or "",
                        e.user_agent or "", e.request_id or "",
                        json.dumps(e.details or {}, ensure_ascii=False, sort_keys=True),
                    ])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            if buffer.tell():
                yield buffer.getvalue()

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
        "Cache-Control": "no-store",
    })
