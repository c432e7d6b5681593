"""Counts for the admin console's confirmation pages: what a destructive action will touch
(sessions that end, apps that lose access, staff that move …), read before anything changes."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import (
    Agency,
    Grant,
    LoginSession,
    RecoveryCode,
    RoleAssignment,
    SigningKey,
    TotpCredential,
    User,
    WebAuthnCredential,
)


def _count(session: Session, stmt: object) -> int:
    return int(session.scalar(stmt) or 0)  # type: ignore[call-overload]


def live_sessions_of_user(session: Session, user_id: str) -> int:
    return _count(
        session,
        select(func.count())
        .select_from(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > now(),
        ),
    )


def live_grants_of_user(session: Session, user_id: str) -> tuple[int, int]:
    """(grants not revoked, distinct apps holding them)."""
    row = session.execute(
        select(func.count(), func.count(func.distinct(Grant.client_id))).where(
            Grant.user_id == user_id, Grant.revoked_at.is_(None)
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def second_factors(session: Session, user_id: str) -> dict[str, int]:
    """TOTP (0 or 1), passkeys and unused recovery codes of a person."""
    return {
        "totp": _count(
            session,
            select(func.count())
            .select_from(TotpCredential)
            .where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)),
        ),
        "passkeys": _count(
            session,
            select(func.count())
            .select_from(WebAuthnCredential)
            .where(WebAuthnCredential.user_id == user_id),
        ),
        "codes": _count(
            session,
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)),
        ),
    }


def live_sessions_among(session: Session, ids: Collection[str]) -> tuple[int, int]:
    """(live sessions among ``ids``, distinct people they belong to)."""
    if not ids:
        return 0, 0
    row = session.execute(
        select(func.count(), func.count(func.distinct(LoginSession.user_id))).where(
            LoginSession.id.in_(list(ids)),
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > now(),
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def staff_in(session: Session, agency_ids: Collection[int]) -> int:
    if not agency_ids:
        return 0
    return _count(
        session, select(func.count()).select_from(User).where(User.agency_id.in_(list(agency_ids)))
    )


def sub_agencies(session: Session, agency_id: int) -> int:
    return _count(
        session, select(func.count()).select_from(Agency).where(Agency.parent_id == agency_id)
    )


def agency_role_assignments(session: Session, agency_id: int) -> int:
    return _count(
        session,
        select(func.count())
        .select_from(RoleAssignment)
        .where(RoleAssignment.agency_id == agency_id),
    )


def role_holders(session: Session, role_id: int) -> dict[str, int]:
    """People holding the role directly, agencies holding it, and staff of those agencies."""
    people = _count(
        session,
        select(func.count())
        .select_from(RoleAssignment)
        .where(RoleAssignment.role_id == role_id, RoleAssignment.user_id.is_not(None)),
    )
    agencies = select(RoleAssignment.agency_id).where(
        RoleAssignment.role_id == role_id, RoleAssignment.agency_id.is_not(None)
    )
    n_agencies = _count(session, select(func.count()).select_from(agencies.subquery()))
    staff = _count(
        session, select(func.count()).select_from(User).where(User.agency_id.in_(agencies))
    )
    return {"people": people, "agencies": n_agencies, "staff": staff}


def live_grants_of_client(session: Session, client_id: str) -> tuple[int, int]:
    """(grants not revoked, distinct people holding them) of one client."""
    row = session.execute(
        select(func.count(), func.count(func.distinct(Grant.user_id))).where(
            Grant.client_id == client_id, Grant.revoked_at.is_(None)
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def keys_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(SigningKey.state, func.count()).group_by(SigningKey.state)).all()
    return {str(state): int(n) for state, n in rows}
