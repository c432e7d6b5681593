"""Upstream identity providers (brokering): the OpenID providers a person may log in through
(Google, INApas, any OIDC provider), the identities linked to our people, and the short-lived
state of one round trip to an upstream."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sso.db.base import Base
from sso.db.models._common import created_at_column, new_uuid, updated_at_column
from sso.db.types import UTCDateTime


class UpstreamProvider(Base):
    """An OpenID provider registered by an admin. The client secret is *sent* to the upstream
    (client authentication at its token endpoint), so it cannot be hashed: it is encrypted with
    the key-encryption key (like signing keys and NIKs), never stored raw."""

    __tablename__ = "upstream_providers"
    __table_args__ = (
        CheckConstraint("accounts IN ('citizen', 'staff', 'all')", name="accounts"),
        CheckConstraint("preset IN ('oidc', 'google', 'inapas')", name="preset"),
        CheckConstraint(
            "staff_match IS NULL OR staff_match IN ('nip', 'email')", name="staff_match"
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(500), default="openid email profile")
    accounts: Mapped[str] = mapped_column(String(16), default="citizen")
    preset: Mapped[str] = mapped_column(String(16), default="oidc")
    # An identity-assurance source (INApas): its NIK claim is stored as a verified NIK.
    identity_assurance: Mapped[bool] = mapped_column(Boolean, default=False)
    # Staff are matched only through this mapping: our attribute (nip or email) and the
    # upstream claim that carries it. No mapping: the upstream never logs staff in.
    staff_match: Mapped[str | None] = mapped_column(String(16))
    staff_claim: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class FederatedIdentity(Base):
    """One person's identity at one upstream (its ``iss`` + ``sub``), linked to our person."""

    __tablename__ = "federated_identities"
    __table_args__ = (
        UniqueConstraint("upstream_id", "subject", name="upstream_subject"),
        UniqueConstraint("user_id", "upstream_id", name="user_upstream"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    upstream_id: Mapped[str] = mapped_column(
        ForeignKey("upstream_providers.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(255))
    # What the person sees in the account console ("linked as siti@gmail.com").
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UpstreamLogin(Base):
    """One round trip to an upstream, bound to the browser that started it: the keyed hash of
    ``state`` (or, after the callback, of the continuation token), the ``nonce``, the PKCE
    verifier and the parked interaction (both encrypted: they must be used again, and the
    interaction id is a bearer value), and, when the callback needs the person's answer (prove
    the local account, fill in missing fields), the validated claims (encrypted: a NIK)."""

    __tablename__ = "upstream_logins"
    __table_args__ = (
        CheckConstraint("stage IN ('authorize', 'prove', 'complete_profile')", name="stage"),
        CheckConstraint("purpose IN ('login', 'link')", name="purpose"),
    )

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_binding: Mapped[str] = mapped_column(String(64))
    upstream_id: Mapped[str] = mapped_column(
        ForeignKey("upstream_providers.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(24), default="authorize")
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier_encrypted: Mapped[str] = mapped_column(Text)
    interaction_encrypted: Mapped[str | None] = mapped_column(Text)
    # purpose "link": the person linking (from the account console); stage "prove": the
    # local account the upstream's email matched.
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject: Mapped[str | None] = mapped_column(String(255))
    claims_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
