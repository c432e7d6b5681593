"""Event rules: who may register, capacity, cancellation, editing, CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tangsel_rp.user import RPUser

from event.models import KINDS, Event, Registration

WIB = ZoneInfo("Asia/Jakarta")  # event times are wall-clock times in Tangerang Selatan


class EventError(Exception):
    """A refusal the person can read: a catalogue key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class EventInput:
    title: str
    kind: str
    description: str
    venue: str
    starts_at: datetime
    capacity: int
    team_size: int | None


def parse_event_form(
    title: str,
    kind: str,
    description: str,
    venue: str,
    starts_at: str,
    capacity: str,
    team_size: str,
) -> tuple[EventInput | None, list[str]]:
    """The form's values, checked; the list holds every problem found (catalogue keys)."""
    problems: list[str] = []
    title, description, venue = title.strip(), description.strip(), venue.strip()
    if not 1 <= len(title) <= 200:
        problems.append("form.title_invalid")
    if kind not in KINDS:
        problems.append("form.kind_invalid")
    if len(description) > 5000 or len(venue) > 200:
        problems.append("form.too_long")
    when = None
    try:
        when = datetime.fromisoformat(starts_at.strip())
        when = when.replace(tzinfo=None, second=0, microsecond=0)
    except ValueError:
        problems.append("form.starts_at_invalid")
    cap = _int(capacity)
    if cap is None or not 1 <= cap <= 100_000:
        problems.append("form.capacity_invalid")
    size = _int(team_size) if team_size.strip() else None
    if kind == "tournament" and (size is None or not 1 <= size <= 20):
        problems.append("form.team_size_invalid")
    if kind == "talk":
        size = None
    if problems or when is None or cap is None:
        return None, problems
    return EventInput(title, kind, description, venue, when, cap, size), []


def _int(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def list_events(db: Session, *, upcoming: bool = False) -> list[Event]:
    """All events, or (``upcoming``) those that start today or later (local time)."""
    stmt = select(Event).order_by(Event.starts_at, Event.id)
    if upcoming:
        today = datetime.now(WIB).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
        stmt = stmt.where(Event.starts_at >= today)
    return list(db.scalars(stmt))


def get_event(db: Session, event_id: int) -> Event | None:
    return db.get(Event, event_id)


def create_event(db: Session, data: EventInput, by: RPUser) -> Event:
    now = utcnow()
    event = Event(
        title=data.title,
        kind=data.kind,
        description=data.description,
        venue=data.venue,
        starts_at=data.starts_at,
        capacity=data.capacity,
        team_size=data.team_size,
        seats_taken=0,
        created_by=by.sub,
        created_at=now,
        updated_at=now,
    )
    db.add(event)
    db.flush()
    return event


def update_event(db: Session, event_id: int, data: EventInput) -> None:
    """Edit an event; capacity cannot drop below the registrations already taken, and a
    tournament's team size is fixed once teams registered (checked in one UPDATE)."""
    event = db.get(Event, event_id)
    if event is None:
        raise EventError("error.not_found")
    if data.kind != event.kind and event.seats_taken:
        raise EventError("form.kind_locked")
    if data.team_size != event.team_size and event.seats_taken:
        raise EventError("form.team_size_locked")
    result = db.execute(
        update(Event)
        .where(Event.id == event_id, Event.seats_taken <= data.capacity)
        .values(
            title=data.title,
            kind=data.kind,
            description=data.description,
            venue=data.venue,
            starts_at=data.starts_at,
            capacity=data.capacity,
            team_size=data.team_size,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise EventError("form.capacity_below_taken")


def clean_team(event: Event, team_name: str, members: list[str]) -> tuple[str | None, list[str]]:
    """A tournament needs a team name and the names of the other ``team_size - 1`` players
    (the person registering is the captain)."""
    if not event.is_tournament:
        return None, []
    name = team_name.strip()
    others = [m.strip() for m in members if m.strip()]
    needed = (event.team_size or 1) - 1
    if not 1 <= len(name) <= 100:
        raise EventError("register.team_name_invalid")
    if len(others) != needed or any(len(m) > 100 for m in others):
        raise EventError("register.members_invalid")
    if len({m.casefold() for m in others}) != len(others):
        raise EventError("register.members_duplicate")
    return name, others


def register(
    db: Session, event_id: int, user: RPUser, team_name: str = "", members: list[str] | None = None
) -> Registration:
    """Take one seat (or team slot) and record the registration, or raise EventError.

    The seat is taken by a conditional UPDATE (``seats_taken < capacity``) that is the first
    statement of the transaction: the database serialises concurrent ones, and exactly as many
    succeed as there are seats. The unique (event, person) constraint refuses a second
    registration of the same person, and rolls the seat back with it.
    """
    event = db.get(Event, event_id)
    if event is None:
        raise EventError("error.not_found")
    team, others = clean_team(event, team_name, members or [])
    db.rollback()  # end the read so the UPDATE below starts the writing transaction
    taken = db.execute(
        update(Event)
        .where(Event.id == event_id, Event.seats_taken < Event.capacity)
        .values(seats_taken=Event.seats_taken + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        db.rollback()
        raise EventError("register.full")
    registration = Registration(
        event_id=event_id,
        user_sub=user.sub,
        user_name=user.name[:200],
        user_email=(user.email or "")[:320],
        team_name=team,
        members=others,
        created_at=utcnow(),
    )
    db.add(registration)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise EventError("register.already") from None
    return registration


def cancel(db: Session, registration_id: int, user_sub: str) -> None:
    """Cancel one's own registration and give the seat back (both or neither)."""
    event_id = db.scalar(
        select(Registration.event_id).where(
            Registration.id == registration_id, Registration.user_sub == user_sub
        )
    )
    if event_id is None:
        raise EventError("error.not_found")
    gone = db.execute(
        delete(Registration).where(
            Registration.id == registration_id, Registration.user_sub == user_sub
        )
    )
    if gone.rowcount != 1:  # type: ignore[attr-defined]
        raise EventError("error.not_found")
    db.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(seats_taken=Event.seats_taken - 1)
        .execution_options(synchronize_session=False)
    )


def registration_of(db: Session, event_id: int, user_sub: str) -> Registration | None:
    return db.scalar(
        select(Registration).where(
            Registration.event_id == event_id, Registration.user_sub == user_sub
        )
    )


def my_registrations(db: Session, user_sub: str) -> list[Registration]:
    return list(
        db.scalars(
            select(Registration)
            .join(Event)
            .where(Registration.user_sub == user_sub)
            .order_by(Event.starts_at)
        )
    )


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def registrants_csv(db: Session, event: Event) -> str:
    rows = db.scalars(
        select(Registration)
        .where(Registration.event_id == event.id)
        .order_by(Registration.created_at, Registration.id)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["registration_id", "name", "email", "team", "members", "registered_at"])
    for reg in rows:
        writer.writerow(
            [
                reg.id,
                _cell(reg.user_name),
                _cell(reg.user_email),
                _cell(reg.team_name or ""),
                _cell("; ".join(reg.members or [])),
                reg.created_at.isoformat(timespec="seconds") + "Z",
            ]
        )
    return out.getvalue()
