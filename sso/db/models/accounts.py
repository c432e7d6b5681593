"""People and the agencies (OPD) staff belong to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sso.db.base import Base
from sso.db.models._common import created_at_column, new_uuid, updated_at_column
from sso.db.types import UTCDateTime, search_key


class Agency(Base):
    """An OPD (organisasi perangkat daerah); agencies form a tree through ``parent_id``."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    parent: Mapped[Agency | None] = relationship(remote_side=[id])

    __mapper_args__ = {"version_id_col": version}


class User(Base):
    """A person: OPD staff (NIP, agency, position) or a citizen (optional NIK)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("kind IN ('staff', 'citizen')", name="kind"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        CheckConstraint("kind = 'staff' OR nip IS NULL", name="nip_staff_only"),
        Index("ix_users_display_name_search", "display_name_search", "id"),
        Index("ix_users_kind_created", "kind", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(String(64))
    # NFKC-normalised, case-folded username: the uniqueness and lookup key.
    username_normalized: Mapped[str] = mapped_column(search_key(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    email_normalized: Mapped[str | None] = mapped_column(search_key(254), unique=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_verified: Mapped[bool] = mapped_column(default=False)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # Case-folded display name for prefix search (indexed).
    display_name_search: Mapped[str] = mapped_column(search_key(200), default="")
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(8), default="id")
    status: Mapped[str] = mapped_column(String(16), default="active")
    nip: Mapped[str | None] = mapped_column(search_key(18), unique=True)
    agency_id: Mapped[int | None] = mapped_column(
        ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[str | None] = mapped_column(String(200))
    # NIK is personal data (UU PDP): encrypted at rest, keyed hash for uniqueness lookups.
    nik_encrypted: Mapped[str | None] = mapped_column(Text)
    nik_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    agency: Mapped[Agency | None] = relationship(lazy="joined")
    password: Mapped[PasswordCredential | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", uselist=False
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class PasswordCredential(Base):
    __tablename__ = "password_credentials"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(512))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="password")
