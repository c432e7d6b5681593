"""Everything the provider holds about a person, as one JSON document: the right of access of
Indonesia's Personal Data Protection Law (UU No. 27/2022 Pasal 7) and of the GDPR it follows.

The document names each part in plain words and holds values, never secrets: the NIK appears
unmasked (it is the person's own data, in their own download), but no password hash, TOTP
seed, recovery code, passkey public key, session cookie or token does; factors are described
(kind, name, dates). Audit events are the most recent ones the person did or that were about
them (:data:`AUDIT_LIMIT`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from sso import __version__
from sso.accounts.connections import describe_device
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import Encryptor
from sso.core.events import Event
from sso.db.models import User
from sso.storage import account_data, audit
from sso.storage import consents as consent_repo
from sso.storage import grants as grant_repo

AUDIT_LIMIT = 200
FORMAT = "tangsel-sso-personal-data/1"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _profile(user: User, encryptor: Encryptor) -> dict[str, Any]:
    return {
        "id": user.id,
        "kind": user.kind,
        "username": user.username,
        "name": user.display_name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "email": user.email,
        "email_verified": user.email_verified,
        "phone": user.phone,
        "phone_verified": user.phone_verified,
        "locale": user.locale,
        "status": user.status,
        "nik": encryptor.decrypt(user.nik_encrypted) if user.nik_encrypted else None,
        "nik_verified": bool(user.nik_verified) if user.nik_encrypted else None,
        "nip": user.nip,
        "position": user.position,
        "has_password": user.password is not None,
        "password_changed_at": _time(user.password.changed_at) if user.password else None,
        "created_at": _time(user.created_at),
        "updated_at": _time(user.updated_at),
    }


def _mfa(session: Session, user_id: str) -> dict[str, Any]:
    totp = account_data.totp_of(session, user_id)
    issued, unused = account_data.recovery_code_counts(session, user_id)
    return {
        "totp": None
        if totp is None
        else {
            "kind": "authenticator app (TOTP, RFC 6238)",
            "created_at": _time(totp.created_at),
            "confirmed_at": _time(totp.confirmed_at),
        },
        "recovery_codes": {"issued": issued, "unused": unused},
        "passkeys": [
            {
                "name": cred.name,
                "created_at": _time(cred.created_at),
                "last_used_at": _time(cred.last_used_at),
                "transports": list(cred.transports or []),
                "discoverable": cred.discoverable,
                "backed_up": cred.backed_up,
            }
            for cred in account_data.webauthn_of(session, user_id)
        ],
    }


def build_export(
    session: Session, settings: Settings, encryptor: Encryptor, user: User
) -> dict[str, Any]:
    """The document (records ``user.data_exported``; the caller commits)."""
    agency = user.agency
    document: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": _time(now()),
        "issuer": settings.issuer_url,
        "software": f"Tangsel SSO {__version__}",
        "profile": _profile(user, encryptor),
        "agency": None if agency is None else {"code": agency.code, "name": agency.name},
        "roles": [
            {"name": name, "client_id": client_id}
            for name, client_id in account_data.global_roles_and_app_roles(session, user)
        ],
        "sessions": [
            {
                "id": row.id,
                "device": describe_device(row.user_agent),
                "user_agent": row.user_agent,
                "ip": row.ip,
                "amr": list(row.amr or []),
                "acr": row.acr,
                "logged_in_at": _time(row.auth_time),
                "last_seen_at": _time(row.last_seen_at),
                "expires_at": _time(row.expires_at),
                "ended_at": _time(row.ended_at),
            }
            for row in account_data.sessions_of_user(session, user.id)
        ],
        "consents": [
            {
                "client_id": consent.client_id,
                "scopes": list(consent.scopes),
                "given_at": _time(consent.created_at),
                "updated_at": _time(consent.updated_at),
            }
            for consent in consent_repo.of_user(session, user.id)
        ],
        "grants": [
            {
                "client_id": grant.client_id,
                "scope": grant.scope,
                "created_at": _time(grant.created_at),
                "revoked_at": _time(grant.revoked_at),
            }
            for grant in grant_repo.grants_of_user(session, user.id, live_only=False)
        ],
        "mfa": _mfa(session, user.id),
        "apps_registered": [
            {"client_id": c.client_id, "name": c.name, "status": c.status}
            for c in account_data.clients_owned_by(session, user.id)
        ],
        "audit_events": [
            {
                "at": _time(row.created_at),
                "event": row.event,
                "outcome": row.outcome,
                "client_id": row.client_id,
                "ip": row.ip,
                "user_agent": row.user_agent,
                "details": row.details,
            }
            for row in account_data.audit_about(session, user.id, AUDIT_LIMIT)
        ],
    }
    audit.record(
        session, Event.USER_DATA_EXPORTED, actor_id=user.id, target_type="user", target_id=user.id
    )
    return document
