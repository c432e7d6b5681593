"""The one time source. Tests move time by replacing :data:`clock` with a :class:`FrozenClock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> int:
        return int(self.now().timestamp())


class FrozenClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, at: datetime | None = None) -> None:
        self._at = at or datetime.now(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, seconds: float) -> None:
        self._at += timedelta(seconds=seconds)


clock: Clock = Clock()


def now() -> datetime:
    return clock.now()


def set_clock(new: Clock) -> Clock:
    """Install ``new`` as the time source; returns the previous one."""
    global clock
    previous, clock = clock, new
    return previous
