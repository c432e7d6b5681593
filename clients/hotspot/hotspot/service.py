"""Quota and access decisions.

The quota belongs to the person (their city account), not to the device: a new MAC address
does not buy a new day. A person is online on one device at a time: connecting a device ends
their other session, so time is never counted twice. Time used today is the sum, over today's
sessions, of the time each one was open; a session never runs past midnight (local time), so
every day starts with the full quota.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, distinct, func, select, update
from sqlalchemy.orm import Session

from hotspot.models import AccessSession, Location

_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")
_LOCATION = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class HotspotError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def normalise_mac(value: str | None) -> str | None:
    """``aa-bb-cc-dd-ee-ff``, ``AABB.CCDD.EEFF``… as ``AA:BB:CC:DD:EE:FF``; None if invalid."""
    if not value:
        return None
    digits = re.sub(r"[:\-.\s]", "", value.strip()).lower()
    if not _MAC_HEX.fullmatch(digits) or digits in ("000000000000", "ffffffffffff"):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2)).upper()


def valid_location_code(value: str | None) -> bool:
    return bool(value and _LOCATION.fullmatch(value))


def day_bounds(now: int, tz: str) -> tuple[int, int]:
    """Start and end (Unix seconds) of the local day holding ``now``."""
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(now, zone)
    start = datetime.combine(local.date(), time(0), zone)
    return int(start.timestamp()), int((start + timedelta(days=1)).timestamp())


def used_today(db: Session, user_sub: str, now: int, tz: str) -> int:
    start, _ = day_bounds(now, tz)
    sessions = db.scalars(
        select(AccessSession).where(
            AccessSession.user_sub == user_sub, AccessSession.started_at >= start
        )
    )
    return sum(max(min(s.end(), now) - s.started_at, 0) for s in sessions)


def active_session(db: Session, user_sub: str, now: int) -> AccessSession | None:
    return db.scalar(
        select(AccessSession)
        .where(
            AccessSession.user_sub == user_sub,
            AccessSession.ended_at.is_(None),
            AccessSession.started_at <= now,
            AccessSession.expires_at > now,
        )
        .order_by(AccessSession.started_at.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class Status:
    quota: int
    used: int
    session: AccessSession | None

    @property
    def remaining(self) -> int:
        return max(self.quota - self.used, 0)


def status(db: Session, user_sub: str, now: int, quota: int, tz: str) -> Status:
    return Status(quota, used_today(db, user_sub, now, tz), active_session(db, user_sub, now))


def connect(
    db: Session,
    user_sub: str,
    mac: str,
    location_code: str,
    now: int,
    quota: int,
    tz: str,
    cap: int | None = None,
) -> AccessSession:
    """Let ``mac`` online at ``location_code`` for what is left of today's quota (and at most
    ``cap`` seconds: a grace login's few minutes)."""
    if db.get(Location, location_code) is None:
        raise HotspotError("portal.unknown_location")
    current = active_session(db, user_sub, now)
    if current is not None and current.mac == mac and current.location_code == location_code:
        return current  # already online here: connecting twice changes nothing
    # One device at a time: the other session ends now (its time so far stays counted).
    db.execute(
        update(AccessSession)
        .where(
            AccessSession.user_sub == user_sub,
            AccessSession.ended_at.is_(None),
            AccessSession.expires_at > now,
        )
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    left = quota - used_today(db, user_sub, now, tz)
    if left <= 0:
        raise HotspotError("portal.quota_used")
    _, day_end = day_bounds(now, tz)
    session = AccessSession(
        user_sub=user_sub,
        mac=mac,
        location_code=location_code,
        started_at=now,
        expires_at=min(now + left, day_end, now + cap if cap is not None else day_end),
    )
    db.add(session)
    db.flush()
    return session


def disconnect(db: Session, user_sub: str, now: int) -> None:
    db.execute(
        update(AccessSession)
        .where(
            AccessSession.user_sub == user_sub,
            AccessSession.ended_at.is_(None),
            AccessSession.expires_at > now,
        )
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


def decision(db: Session, mac: str, location_code: str, now: int) -> AccessSession | None:
    """The session allowing ``mac`` online at ``location_code`` right now, if any."""
    return db.scalar(
        select(AccessSession)
        .where(
            AccessSession.mac == mac,
            AccessSession.location_code == location_code,
            AccessSession.ended_at.is_(None),
            AccessSession.started_at <= now,
            AccessSession.expires_at > now,
        )
        .order_by(AccessSession.expires_at.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class LocationUsage:
    code: str
    name: str
    sessions: int
    people: int
    devices: int
    seconds: int
    online_now: int


def usage_by_location(
    db: Session, now: int, tz: str, day: int | None = None
) -> list[LocationUsage]:
    """Per location, for the local day holding ``day`` (default: today); aggregated in SQL."""
    start, end = day_bounds(day if day is not None else now, tz)
    s = AccessSession
    closed = case(
        (s.ended_at.is_not(None) & (s.ended_at < s.expires_at), s.ended_at), else_=s.expires_at
    )
    until = case((closed < now, closed), else_=now)
    online = case((s.ended_at.is_(None) & (s.started_at <= now) & (s.expires_at > now), 1), else_=0)
    totals = (
        select(
            s.location_code,
            func.count(s.id).label("sessions"),
            func.count(distinct(s.user_sub)).label("people"),
            func.count(distinct(s.mac)).label("devices"),
            func.sum(case((until > s.started_at, until - s.started_at), else_=0)).label("seconds"),
            func.sum(online).label("online"),
        )
        .where(s.started_at >= start, s.started_at < end)
        .group_by(s.location_code)
        .subquery()
    )
    rows = db.execute(
        select(Location.code, Location.name, totals)
        .outerjoin(totals, totals.c.location_code == Location.code)
        .order_by(Location.code)
    ).all()
    return [
        LocationUsage(
            code=row.code,
            name=row.name,
            sessions=row.sessions or 0,
            people=row.people or 0,
            devices=row.devices or 0,
            seconds=int(row.seconds or 0),
            online_now=int(row.online or 0),
        )
        for row in rows
    ]


def add_location(db: Session, code: str, name: str, now: int) -> Location:
    code, name = code.strip(), name.strip()
    if not valid_location_code(code) or not 1 <= len(name) <= 200:
        raise HotspotError("operator.location_invalid")
    if db.get(Location, code) is not None:
        raise HotspotError("operator.location_exists")
    location = Location(code=code, name=name, created_at=now)
    db.add(location)
    db.flush()
    return location


def count_locations(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(Location)) or 0)
