"""Demo Wi-Fi points (added once: nothing happens when locations exist)."""

from __future__ import annotations

import time

from tangsel_rp.db import make_engine, make_sessionmaker, transaction

from hotspot.models import Base, Location
from hotspot.service import count_locations
from hotspot.settings import HotspotSettings

DEMO = [
    ("TSL-0001", "Taman Kota 1 BSD, Serpong"),
    ("TSL-0002", "Alun-alun Ciputat"),
    ("TSL-0003", "Pusat Pemerintahan Kota, Ciputat"),
    ("TSL-0004", "Taman Pakujaya, Serpong Utara"),
]


def seed(settings: HotspotSettings) -> int:
    engine = make_engine(settings.database_url)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as db:
        if count_locations(db):
            return 0
        for code, name in DEMO:
            db.add(Location(code=code, name=name, created_at=int(time.time())))
    engine.dispose()
    return len(DEMO)
