"""The append-only audit log. The ORM refuses updates and deletes of its rows; on PostgreSQL a
trigger (see the migration) refuses them for any client of the database too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from sso.db.base import Base
from sso.db.models._common import created_at_column
from sso.db.types import JSONType


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_event_created", "event", "created_at"),
        Index("ix_audit_events_target", "target_type", "target_id"),
        Index("ix_audit_events_actor", "actor_id", "created_at"),
        Index("ix_audit_events_client", "client_id", "created_at"),  # the audit log's app filter
        Index("ix_audit_events_created", "created_at", "id"),  # the audit log's page order
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    created_at: Mapped[datetime] = created_at_column()
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    actor_id: Mapped[str | None] = mapped_column(String(36))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


def _refuse_change(_mapper: Mapper[Any], _conn: Any, _target: AuditEvent) -> None:
    raise PermissionError("the audit log is append-only")


event.listen(AuditEvent, "before_update", _refuse_change)
event.listen(AuditEvent, "before_delete", _refuse_change)
