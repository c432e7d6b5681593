"""People and the agencies (OPD) staff belong to."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, event, false
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
    # SCIM externalId (RFC 7643 §3.1): the provisioning client's own identifier.
    external_id: Mapped[str | None] = mapped_column(String(255))

    parent: Mapped[Agency | None] = relationship(remote_side=[id])

    __mapper_args__ = {"version_id_col": version}


def fold(text: str | None) -> str:
    """Text as the admin search compares it: accents stripped (NFKD, combining marks
    dropped), case-folded, whitespace collapsed. ``"Inés  Jokowati"`` -> ``"ines jokowati"``."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def search_text_of(
    display_name: str | None, username: str | None, email: str | None, nip: str | None
) -> str:
    """The one column the admin search looks into (by any part, trigram-indexed on
    PostgreSQL): name, username, email and NIP, each folded by :func:`fold`."""
    return " ".join(p for p in (fold(display_name), fold(username), fold(email), fold(nip)) if p)


def _search_text_default(context: Any) -> str:
    """Column default for inserts that bypass the ORM (bulk ``insert(users)`` of the staff
    import): computed from the row's own values."""
    row = context.get_current_parameters()
    return search_text_of(
        row.get("display_name"), row.get("username"), row.get("email"), row.get("nip")
    )


class User(Base):
    """A person: OPD staff (NIP, agency, position) or a citizen (optional NIK)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("kind IN ('staff', 'citizen')", name="kind"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
        CheckConstraint("kind = 'staff' OR nip IS NULL", name="nip_staff_only"),
        Index("ix_users_display_name_search", "display_name_search", "id"),
        Index("ix_users_kind_created", "kind", "created_at", "id"),
        Index("ix_users_created", "created_at", "id"),
        Index("ix_users_last_login", "last_login_at", "id"),
        # The dashboard's active staff (and their second factors) by an index-only scan.
        Index("ix_users_kind_status", "kind", "status", "id"),
        # Passwordless login and registration find a person by their number (issue 15).
        Index("ix_users_phone", "phone"),
        # Substring search (LIKE '%part%') at a million rows: a trigram GIN index on
        # PostgreSQL (migration 0008 creates the pg_trgm extension); a plain index on SQLite,
        # where LIKE '%…%' scans anyway.
        Index(
            "ix_users_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
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
    # Folded name, username, email and NIP (:func:`search_text_of`), kept up to date on every
    # write (the column default for Core inserts, the ORM hooks below for the rest).
    search_text: Mapped[str] = mapped_column(Text, default=_search_text_default)
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
    # True only for a NIK from an identity-assurance upstream (INApas); a typed NIK is not.
    nik_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    # When a login session was last opened for the person (set with the session, outside the
    # optimistic version: a login must not make an admin's open edit form stale).
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    # SCIM externalId (RFC 7643 §3.1): the staff register's own identifier of the person.
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)

    agency: Mapped[Agency | None] = relationship(lazy="joined")
    password: Mapped[PasswordCredential | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", uselist=False
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _refresh_search_text(_mapper: Any, _connection: Any, user: User) -> None:
    user.search_text = search_text_of(user.display_name, user.username, user.email, user.nip)


class PasswordCredential(Base):
    __tablename__ = "password_credentials"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(512))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="password")
