"""``/admin/audit``: the audit log as people read it: who (names, not ids), what (the event in
words), when (WIB), filtered by category (several at once), person, app, event name and dates,
paged both ways; ``/admin/audit/{id}``: one event with its ids and details; and
``/admin/audit.csv``: the same selection as CSV with both names and ids.

The log is append-only: nothing here (or anywhere in the app) updates or deletes an event.
Details never hold a secret, token or NIK (``sso.storage.audit.record``); what is shown is
still passed through :func:`sso.admin.audit_rows.shown_details`, so a careless caller cannot
leak one here."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_login
from sso.admin.access import staff
from sso.admin.audit_rows import WIB, Names, shown_details
from sso.admin.views import page
from sso.core.clock import now
from sso.core.errors import NotFound
from sso.core.events import Event
from sso.db.models import AuditEvent
from sso.storage import audit, audit_queries
from sso.storage import users as user_repo
from sso.storage.audit_queries import LOCAL_OFFSET, AuditFilter
from sso.web import event_labels
from sso.web.deps import SessionDep, runtime_of
from sso.web.i18n import negotiate_locale

router = APIRouter()
PAGE_SIZE = 50
TEXT_FILTERS = ("event", "person", "client", "actor", "target", "from", "to")
CSV_COLUMNS = (
    "id",
    "created_at",
    "event",
    "event_label",
    "category",
    "outcome",
    "actor_id",
    "actor_username",
    "actor_name",
    "target_type",
    "target_id",
    "target_name",
    "client_id",
    "client_name",
    "ip",
    "user_agent",
    "request_id",
    "details",
)
# ---------------------------------------------------------------------------- filters


def _day(text: str | None) -> datetime | None:
    """A local (WIB) calendar day as the UTC instant it starts (None for no date, or one
    outside the years a log can hold, which would overflow the day arithmetic)."""
    try:
        d = date.fromisoformat((text or "")[:10])
    except ValueError:
        return None
    if not 1970 <= d.year <= 9000:
        return None
    return datetime(d.year, d.month, d.day, tzinfo=UTC) - LOCAL_OFFSET


def _printable(text: str) -> str:
    # PostgreSQL refuses a NUL in a query parameter: a typed control character must not
    # become a 500.
    return "".join(ch for ch in text if ch.isprintable())


def _user_id(session: Session, text: str) -> str:
    """The id of the person named by username, email or NIP (else the text: maybe an id)."""
    found = user_repo.find_by_login(session, normalize_login(text))
    return found.id if found else text


@dataclass(frozen=True)
class Query:
    """What the admin asked for, as typed (to fill the form and build links again)."""

    text: dict[str, str]
    categories: tuple[str, ...]

    def params(self, **extra: str) -> list[tuple[str, str]]:
        out = [(k, v) for k, v in self.text.items() if v]
        out += [("cat", c) for c in self.categories]
        return out + [(k, v) for k, v in extra.items() if v]

    def url(self, path: str, **extra: str) -> str:
        params = self.params(**extra)
        return path + ("?" + urlencode(params) if params else "")


def read_query(request: Request) -> Query:
    qp = request.query_params
    text = {k: _printable(qp.get(k, "")[:200]).strip() for k in TEXT_FILTERS}
    chosen = set(qp.getlist("cat"))
    return Query(text, tuple(c for c in event_labels.CATEGORIES if c in chosen))


def to_filter(session: Session, q: Query) -> AuditFilter:
    t = q.text
    names: tuple[str, ...] | None = None
    if q.categories:
        names = tuple(event_labels.names_in(q.categories))
    until = _day(t["to"])
    return AuditFilter(
        event=t["event"] or None,
        names=names,
        others=event_labels.OTHER in q.categories,
        known=tuple(event_labels.known_names()),
        actor_id=_user_id(session, t["actor"]) if t["actor"] else None,
        target_id=t["target"] or None,
        person_id=_user_id(session, t["person"]) if t["person"] else None,
        client_ids=tuple(audit_queries.find_clients(session, t["client"])) if t["client"] else None,
        since=_day(t["from"]),
        until=until + timedelta(days=1) if until else None,
    )


def _locale(request: Request) -> str:
    return negotiate_locale(request, default=runtime_of(request).settings.default_locale)


# ---------------------------------------------------------------------------- pages


def _cursor(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 19 else None


def _key(text: str | None) -> audit_queries.Key | None:
    """A page cursor ``<microseconds since 1970>-<id>`` (from :func:`_key_text`), else None."""
    at, _, event_id = (text or "").partition("-")
    us, number = _cursor(at), _cursor(event_id)
    if us is None or number is None:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us), number
    except OverflowError:  # past the year 9999
        return None


def _key_text(key: audit_queries.Key | None) -> str:
    if key is None:
        return ""
    at, event_id = key
    us = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{us}-{event_id}"


@router.get("/admin/audit")
def audit_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "audit.view")
    q = read_query(request)
    f = to_filter(session, q)
    locale = _locale(request)
    result = audit_queries.page(
        session,
        f,
        before=_key(request.query_params.get("before")),
        after=_key(request.query_params.get("after")),
        limit=PAGE_SIZE,
    )
    names = Names(session, result.rows)
    categories = [
        (c, event_labels.category_label(c, locale), c in q.categories)
        for c in event_labels.CATEGORIES
    ]
    return page(
        request,
        "admin/audit.html",
        who,
        {
            "rows": [names.row(e, locale) for e in result.rows],
            "filters": q.text,
            "categories": categories,
            "chosen_count": len(q.categories),
            "narrowed": f.narrowed,
            "older_url": q.url("/admin/audit", before=_key_text(result.older))
            if result.older
            else None,
            "newer_url": q.url("/admin/audit", after=_key_text(result.newer))
            if result.newer
            else None,
            "newest_url": q.url("/admin/audit") if result.newer else None,
            "export_url": q.url("/admin/audit.csv"),
            "back_query": urlencode(q.params()),
        },
    )


@router.get("/admin/audit/{event_id}")
def audit_event(event_id: str, request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "audit.view")
    e = audit_queries.get(session, int(event_id)) if _cursor(event_id) is not None else None
    if e is None:
        raise NotFound("admin.audit.unknown_event")
    locale = _locale(request)
    row = Names(session, [e]).row(e, locale)
    back = request.query_params.get("back", "")[:2000]
    return page(
        request,
        "admin/audit_event.html",
        who,
        {
            "row": row,
            "request_id_of_event": e.request_id or "",
            "details": shown_details(e.details),
            "back_url": "/admin/audit?" + back if back else "/admin/audit",
        },
    )


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (names are typed by people)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(session: Session, batch: Sequence[AuditEvent], locale: str) -> Iterator[list[str]]:
    names = Names(session, batch)
    for e in batch:
        r = names.row(e, locale)
        people = names.people
        actor = people.get(e.actor_id or "")
        yield [
            _cell(v)
            for v in (
                e.id,
                r.when_iso,
                e.event,
                r.label,
                r.category,
                e.outcome,
                e.actor_id,
                actor[0] if actor else "",
                actor[1] if actor else "",
                e.target_type,
                e.target_id,
                r.target.name if r.target and r.target.known else "",
                e.client_id,
                r.client.name if r.client and r.client.known else "",
                e.ip,
                e.user_agent,
                e.request_id,
                json.dumps(shown_details(e.details), ensure_ascii=False, sort_keys=True),
            )
        ]


@router.get("/admin/audit.csv")
def audit_csv(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "audit.view")
    q = read_query(request)
    f = to_filter(session, q)
    locale = _locale(request)
    filters: dict[str, Any] = {k: v for k, v in q.text.items() if v}
    if q.categories:
        filters["categories"] = list(q.categories)
    audit.record(
        session, Event.AUDIT_EXPORTED, actor_id=who.user.id, target_type="audit", filters=filters
    )
    session.commit()
    runtime = runtime_of(request)

    def rows() -> Iterator[str]:
        # A session of its own: the request's is closed once the response starts streaming.
        with runtime.sessions() as s:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(CSV_COLUMNS)
            for batch in audit_queries.batches(s, f):
                writer.writerows(csv_rows(s, batch, locale))
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            if buffer.tell():
                yield buffer.getvalue()

    stamp = now().astimezone(WIB).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}-WIB.csv"',
            "Cache-Control": "no-store",
        },
    )
