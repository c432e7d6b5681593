"""Events and registrations.

``seats_taken`` counts registrations (people for a talk, teams for a tournament). It only
moves through conditional UPDATEs in ``service`` and a CHECK constraint keeps it within
``capacity`` as a last guard, so no interleaving of requests can over-book an event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

KINDS = ("talk", "tournament")


class Base(DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("kind IN ('talk', 'tournament')", name="ck_events_kind"),
        CheckConstraint("capacity >= 1", name="ck_events_capacity"),
        CheckConstraint(
            "seats_taken >= 0 AND seats_taken <= capacity", name="ck_events_seats_taken"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    venue: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime] = mapped_column(DateTime)  # local wall-clock time (WIB)
    capacity: Mapped[int] = mapped_column(Integer)
    team_size: Mapped[int | None] = mapped_column(Integer)  # players per team (tournaments)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    registrations: Mapped[list[Registration]] = relationship(
        back_populates="event", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.seats_taken, 0)

    @property
    def is_tournament(self) -> bool:
        return self.kind == "tournament"


class Registration(Base):
    __tablename__ = "registrations"
    # One registration per person per event: a double click cannot take two seats.
    __table_args__ = (UniqueConstraint("event_id", "user_sub", name="uq_registrations_person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    user_sub: Mapped[str] = mapped_column(String(255), index=True)
    user_name: Mapped[str] = mapped_column(String(200))
    user_email: Mapped[str] = mapped_column(String(320), default="")
    team_name: Mapped[str | None] = mapped_column(String(100))
    members: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    event: Mapped[Event] = relationship(back_populates="registrations")
