"""Registered OAuth clients (relying parties) and used client-assertion ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from sso.db.base import Base
from sso.db.models._common import created_at_column, updated_at_column
from sso.db.types import JSONType, UTCDateTime


class Client(Base):
    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint("client_type IN ('confidential', 'public')", name="client_type"),
        CheckConstraint("status IN ('pending', 'active', 'disabled', 'rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # HMAC of the secret (never the secret): secrets are random and long, a keyed hash is
    # enough and keeps /token fast.
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    client_type: Mapped[str] = mapped_column(String(16), default="confidential")
    redirect_uris: Mapped[list[str]] = mapped_column(JSONType, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSONType, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    scope: Mapped[str] = mapped_column(Text, default="openid")
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default="client_secret_basic"
    )
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    backchannel_logout_session_required: Mapped[bool] = mapped_column(default=True)
    # None: the client chose no algorithm, so its ID tokens (and logout tokens) are signed with
    # SSO_DEFAULT_SIGNING_ALG as it is when signing; a value is the client's own choice.
    id_token_signed_response_alg: Mapped[str | None] = mapped_column(String(16))
    trusted: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # What kind of app a developer said it is: web, spa, native or m2m (RFC 7591
    # application_type covers only web/native; this drives the portal's checks and examples).
    app_kind: Mapped[str | None] = mapped_column(String(16))
    # Marked by an admin (issue 13): the app may register loopback ``http`` redirect URIs even
    # in production, and only its owner and admins may log in to it (sso.oauth.app_review).
    in_development: Mapped[bool] = mapped_column(default=False, server_default=false())
    logo_uri: Mapped[str | None] = mapped_column(String(2000))
    client_uri: Mapped[str | None] = mapped_column(String(2000))
    policy_uri: Mapped[str | None] = mapped_column(String(2000))
    tos_uri: Mapped[str | None] = mapped_column(String(2000))
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    contacts: Mapped[list[str] | None] = mapped_column(JSONType, default=list)
    # RFC 7592: keyed hash of the registration access token of a dynamically registered client.
    registration_access_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Review of a developer registration by an admin (approve / reject, with a note).
    reviewed_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_note: Mapped[str | None] = mapped_column(Text)
    access_token_lifetime: Mapped[int | None] = mapped_column(Integer)
    refresh_token_lifetime: Mapped[int | None] = mapped_column(Integer)
    # A machine client of the Admin API (issue 16) limited to this agency and the ones below
    # it: it sees and changes what an opd-admin of that agency could. None: no limit. No
    # cascade: deleting the agency must not widen the client (the agency is kept instead).
    admin_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_public(self) -> bool:
        return self.client_type == "public"

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


class InitialAccessToken(Base):
    """An admin-issued token that allows Dynamic Client Registration (RFC 7591 §3). Only its
    keyed hash is stored; it may be limited in uses and time and revoked."""

    __tablename__ = "initial_access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Clients registered with this token start ``active`` (the admin who issued it vouches for
    # its holder, e.g. a city agency's CI pipeline); otherwise they wait ``pending`` for review.
    approve_clients: Mapped[bool] = mapped_column(default=False)


class ClientAssertionJti(Base):
    """``jti`` of private_key_jwt assertions already used (RFC 7523 §3: not reusable)."""

    __tablename__ = "client_assertion_jtis"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
