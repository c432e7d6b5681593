"""An audit event as people read it in the admin console: times in WIB, the people, apps,
agencies and roles it names by their names (fetched once per page), and its details with
anything that could be a secret, token or NIK hidden."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session

from sso.db.models import AuditEvent
from sso.storage import audit_queries
from sso.storage.audit_queries import LOCAL_OFFSET
from sso.web import event_labels

# Tangerang Selatan keeps Western Indonesia Time all year: every time in the admin UI is WIB.
WIB = timezone(LOCAL_OFFSET, "WIB")
# Detail keys that could name a secret; their text values are never shown (counts and yes/no
# flags such as ``refresh_token: true`` are).
_SENSITIVE_KEY = re.compile(
    r"(^|_)(secret|password|passwd|token|nik|hash|otp|code_verifier|"
    r"assertion|credential|cookie)(_|$)",
    re.IGNORECASE,
)
_NIK_LIKE = re.compile(r"\d{16}")
HIDDEN = "***"


def local_time(value: datetime, *, seconds: bool = False) -> str:
    """``07-12-2026 14:03 WIB``: how a person in the city reads a time."""
    return value.astimezone(WIB).strftime(
        "%d-%m-%Y %H:%M:%S WIB" if seconds else "%d-%m-%Y %H:%M WIB"
    )


def _may_be_secret(key: str, value: object) -> bool:
    if isinstance(value, bool | int | float):
        return False  # a count or a yes/no
    return bool(_SENSITIVE_KEY.search(key)) or (
        isinstance(value, str) and _NIK_LIKE.fullmatch(value.strip()) is not None
    )


def shown_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """An event's details as shown and exported: nested mappings walked, anything that could
    be a secret, token or NIK replaced by ``***``."""
    out: dict[str, Any] = {}
    for key, value in (details or {}).items():
        if isinstance(value, Mapping):
            out[key] = shown_details(value)
        else:
            out[key] = HIDDEN if _may_be_secret(str(key), value) else value
    return out


@dataclass(frozen=True)
class Named:
    """Something an event names: shown by its name, its id kept for the detail view."""

    name: str
    id: str
    known: bool = True  # False: the id no longer names anything (deleted)


@dataclass(frozen=True)
class Row:
    id: int
    event: str
    label: str
    category: str
    category_label: str
    outcome: str
    when: str
    when_iso: str
    actor: Named | None
    target: Named | None
    target_type: str
    client: Named | None
    ip: str
    user_agent: str


class Names:
    """The names of the people, apps, agencies and roles that a batch of events refers to,
    fetched with one query per kind."""

    def __init__(self, session: Session, rows: Sequence[AuditEvent]) -> None:
        user_ids = [e.actor_id for e in rows]
        user_ids += [e.target_id for e in rows if e.target_type == "user"]
        self.people = audit_queries.people(session, user_ids)
        self.clients = audit_queries.client_names(
            session,
            [e.client_id for e in rows] + [e.target_id for e in rows if e.target_type == "client"],
        )
        self.agencies = audit_queries.agency_names(
            session, [e.target_id for e in rows if e.target_type == "agency"]
        )
        self.roles = audit_queries.role_names(
            session, [e.target_id for e in rows if e.target_type == "role"]
        )

    def person(self, user_id: str | None) -> Named | None:
        if not user_id:
            return None
        found = self.people.get(user_id)
        if found is None:
            return Named(user_id, user_id, known=False)
        username, display = found
        return Named(
            f"{display} ({username})" if display and display != username else username, user_id
        )

    def client(self, client_id: str | None) -> Named | None:
        if not client_id:
            return None
        name = self.clients.get(client_id)
        return Named(name or client_id, client_id, known=name is not None)

    def target(self, e: AuditEvent, locale: str) -> Named | None:
        if not e.target_id:
            return None
        if e.target_type == "user":
            return self.person(e.target_id)
        if e.target_type == "client":
            return self.client(e.target_id)
        table = {"agency": self.agencies, "role": self.roles}.get(e.target_type or "")
        if table is not None:
            name = table.get(e.target_id)
            return Named(name or e.target_id, e.target_id, known=name is not None)
        kind = event_labels.target_type_label(e.target_type or "", locale)
        if kind is None:
            return Named(e.target_id, e.target_id)
        # A short number (an import, a key id) says which one; a long random id does not.
        return Named(f"{kind} {e.target_id}" if len(e.target_id) <= 24 else kind, e.target_id)

    def row(self, e: AuditEvent, locale: str) -> Row:
        category = event_labels.category_of(e.event)
        return Row(
            id=e.id,
            event=e.event,
            label=event_labels.label(e.event, locale),
            category=category,
            category_label=event_labels.category_label(category, locale),
            outcome=e.outcome,
            when=local_time(e.created_at, seconds=True),
            when_iso=e.created_at.astimezone(WIB).isoformat(),
            actor=self.person(e.actor_id),
            target=self.target(e, locale),
            target_type=e.target_type or "",
            client=self.client(e.client_id),
            ip=e.ip or "",
            user_agent=e.user_agent or "",
        )
