"""Append-only audit log writes and reads."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.core.events import Event, current_context
from sso.db.models import AuditEvent
from sso.storage import audit_feed, webhooks

ACTING_CLIENT = "audit.acting_client"


def act_for_client(session: Session, client_id: str) -> None:
    """Every event this session records from now on was caused by the machine client
    ``client_id`` (a call of the Admin API): it is named in ``details.actor_client_id``, and
    in ``client_id`` where the event names no client of its own. Services need not know who
    called them (the console's person is their ``actor_id``)."""
    session.info[ACTING_CLIENT] = client_id


def _acting(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    acting = session.info.get(ACTING_CLIENT)
    if acting:
        values["details"] = {**(values.get("details") or {}), "actor_client_id": acting}
        if values.get("client_id") is None:
            values["client_id"] = acting
    return values


def record(
    session: Session,
    event: Event,
    *,
    outcome: str = "success",
    actor_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    client_id: str | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session's transaction (committed with the change it records),
    and hand it on with :func:`written` (webhooks, after-commit subscribers).

    ``details`` must never hold a secret, password, token or NIK."""
    values = _acting(
        session,
        event_values(
            event,
            outcome=outcome,
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
            client_id=client_id,
            **details,
        ),
    )
    row = AuditEvent(**values)
    session.add(row)
    written(session, [values])
    return row


def write(session: Session, values: dict[str, Any]) -> None:
    """:func:`record` as one Core INSERT of an :func:`event_values` row, executed now in the
    session's transaction (no ORM unit of work): for the token endpoint's hot paths."""
    if ACTING_CLIENT in session.info:
        values = _acting(session, dict(values))
    session.connection().execute(_INSERT, values)
    written(session, [values])


def written(session: Session, rows: list[dict[str, Any]]) -> None:
    """Every writer of audit rows calls this with the rows it wrote in the session's
    transaction: they are queued for the webhooks that want them
    (:func:`sso.storage.webhooks.capture`) and, once the transaction commits, published to
    the subscribers of :mod:`sso.storage.audit_feed` (the metrics)."""
    webhooks.capture(session, rows)
    audit_feed.note(session, rows)


def event_values(
    event: Event,
    *,
    outcome: str = "success",
    actor_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    client_id: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    """An audit row (same columns and rules as :func:`record`) as parameters named after the
    columns: for :func:`write`, or for another repository that writes it in the same statement
    as its own row."""
    ctx = current_context()
    return {
        "created_at": now(),
        "event": event,
        "outcome": outcome,
        "actor_id": actor_id,
        "target_type": target_type,
        "target_id": target_id,
        "client_id": client_id,
        "ip": ctx.ip,
        "user_agent": (ctx.user_agent or "")[:512] or None,
        "request_id": ctx.request_id,
        "details": details,
    }


TABLE = cast(Table, AuditEvent.__table__)
_INSERT = insert(TABLE)  # built once (a compiled-cache hit each time)
