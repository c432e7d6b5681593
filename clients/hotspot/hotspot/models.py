"""Hotspot locations and access sessions. Times are Unix seconds (UTC by nature)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Location(Base):
    __tablename__ = "locations"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(Integer)


class AccessSession(Base):
    """A device allowed online at one location, from ``started_at`` until ``expires_at`` (the
    end of the person's quota or of the day) or until ``ended_at`` (disconnected, or moved to
    another device)."""

    __tablename__ = "access_sessions"
    __table_args__ = (
        Index("ix_access_sessions_user_day", "user_sub", "started_at"),
        Index("ix_access_sessions_device", "mac", "location_code", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_sub: Mapped[str] = mapped_column(String(255))
    mac: Mapped[str] = mapped_column(String(17))
    location_code: Mapped[str] = mapped_column(ForeignKey("locations.code"), index=True)
    started_at: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(Integer)
    ended_at: Mapped[int | None] = mapped_column(Integer)

    def end(self) -> int:
        return min(self.expires_at, self.ended_at) if self.ended_at else self.expires_at

    def seconds_left(self, now: int) -> int:
        return max(self.end() - now, 0)


class DeviceLogin(Base):
    """A device without a browser (smart TV, kiosk) logging in with the Device Authorization
    Grant (RFC 8628): the codes the provider gave, and how it went. ``id`` is the random handle
    of the device's own status page; ``device_code`` never leaves the server."""

    __tablename__ = "device_logins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mac: Mapped[str] = mapped_column(String(17))
    location_code: Mapped[str] = mapped_column(ForeignKey("locations.code"))
    device_code: Mapped[str] = mapped_column(String(512))
    user_code: Mapped[str] = mapped_column(String(32))
    verification_uri: Mapped[str] = mapped_column(String(1000))
    verification_uri_complete: Mapped[str | None] = mapped_column(String(1000))
    interval: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(Integer)
    # pending, connected, denied, expired, quota_used, error
    status: Mapped[str] = mapped_column(String(16), default="pending")
    user_sub: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[int | None] = mapped_column(Integer)
