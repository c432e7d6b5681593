"""Column types that round-trip identically on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes. SQLite keeps no zone, so we store UTC and re-attach it."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON everywhere, JSONB on PostgreSQL.
JSONType: Any = JSON().with_variant(JSONB(), "postgresql")


def search_key(length: int) -> Any:
    """A normalised text column searched by prefix and paged in order (keyset). PostgreSQL
    compares it byte-wise (``COLLATE "C"``) so a plain b-tree index serves both
    ``LIKE 'prefix%'`` and ``ORDER BY`` at a million rows; SQLite's default is already binary."""
    from sqlalchemy import String

    return String(length).with_variant(String(length, collation="C"), "postgresql")
