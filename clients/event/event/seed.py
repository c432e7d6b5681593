"""Demo events (added once: nothing happens when events exist)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from tangsel_rp.db import make_engine, make_sessionmaker, transaction

from event.models import Base, Event
from event.service import utcnow
from event.settings import EventSettings

DEMO = [
    ("Keamanan Siber untuk UMKM", "talk", "Aula Pusat Pemerintahan Kota", 120, None, 10),
    ("Membangun Layanan Publik dengan Open Data", "talk", "Ruang Blandongan", 80, None, 11),
    ("Turnamen Mobile Legends Piala Wali Kota", "tournament", "Tangsel Creative Hub", 16, 5, 12),
    ("Turnamen eFootball Pelajar", "tournament", "Tangsel Creative Hub", 32, 1, 13),
]


def seed(settings: EventSettings) -> int:
    engine = make_engine(settings.database_url)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as db:
        if db.scalar(select(func.count()).select_from(Event)):
            return 0
        start = datetime.now().replace(hour=9, minute=0, second=0, microsecond=0)
        for title, kind, venue, capacity, team_size, day in DEMO:
            db.add(
                Event(
                    title=title,
                    kind=kind,
                    venue=venue,
                    capacity=capacity,
                    team_size=team_size,
                    seats_taken=0,
                    description="Bagian dari Festival TI Tangerang Selatan.",
                    starts_at=start + timedelta(days=day),
                    created_by="demo",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
    engine.dispose()
    return len(DEMO)
