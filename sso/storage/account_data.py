"""Queries of the account console (``/account``): what one person holds across the tables,
for the pages, the data export (right of access, UU PDP) and the deletion of an account."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from sso.db.models import (
    AuditEvent,
    Client,
    Consent,
    Grant,
    LoginSession,
    RecoveryCode,
    Role,
    RoleAssignment,
    TotpCredential,
    User,
    WebAuthnCredential,
)


def user_for_update(session: Session, user_id: str) -> User | None:
    """The person's row, read again from the database (not the identity map's copy)."""
    return session.get(User, user_id, populate_existing=True)


def other_user_with_email(session: Session, email_normalized: str, user_id: str) -> str | None:
    return session.scalar(
        select(User.id).where(User.email_normalized == email_normalized, User.id != user_id)
    )


def other_user_with_nik(session: Session, nik_hash: str, user_id: str) -> str | None:
    return session.scalar(select(User.id).where(User.nik_hash == nik_hash, User.id != user_id))


def sessions_of_user(session: Session, user_id: str) -> Sequence[LoginSession]:
    """Every session row still held (live and ended, until garbage collection), newest first."""
    return session.scalars(
        select(LoginSession)
        .where(LoginSession.user_id == user_id)
        .order_by(LoginSession.auth_time.desc(), LoginSession.id)
    ).all()


def live_grants_for_client(session: Session, user_id: str, client_id: str) -> Sequence[Grant]:
    return session.scalars(
        select(Grant).where(
            Grant.user_id == user_id, Grant.client_id == client_id, Grant.revoked_at.is_(None)
        )
    ).all()


def connected_clients(
    session: Session, user_id: str, *, exclude: Sequence[str] = ()
) -> Sequence[Client]:
    """Clients the person consented to or holds a live grant of, by name."""
    consented = select(Consent.client_id).where(Consent.user_id == user_id)
    granted = select(Grant.client_id).where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
    stmt = select(Client).where(or_(Client.client_id.in_(consented), Client.client_id.in_(granted)))
    if exclude:
        stmt = stmt.where(Client.client_id.not_in(list(exclude)))
    return session.scalars(stmt.order_by(Client.name, Client.client_id)).all()


def global_roles_and_app_roles(session: Session, user: User) -> list[tuple[str, str | None]]:
    """(role name, client_id or None) the person holds directly or through their agency."""
    holder = RoleAssignment.user_id == user.id
    if user.agency_id is not None:
        holder = or_(holder, RoleAssignment.agency_id == user.agency_id)
    stmt = (
        select(Role.name, Client.client_id)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .outerjoin(Client, Client.id == Role.client_id)
        .where(holder)
        .distinct()
    )
    found = [(name, client_id) for name, client_id in session.execute(stmt).all()]
    # Global roles first, then each app's, by name (sorted here: DISTINCT limits ORDER BY).
    return sorted(found, key=lambda r: (r[1] is not None, r[1] or "", r[0]))


def totp_of(session: Session, user_id: str) -> TotpCredential | None:
    return session.get(TotpCredential, user_id)


def recovery_code_counts(session: Session, user_id: str) -> tuple[int, int]:
    """(codes issued and held, codes still unused)."""
    total, unused = session.execute(
        select(
            func.count(RecoveryCode.id),
            func.count(RecoveryCode.id).filter(RecoveryCode.used_at.is_(None)),
        ).where(RecoveryCode.user_id == user_id)
    ).one()
    return int(total or 0), int(unused or 0)


def webauthn_of(session: Session, user_id: str) -> Sequence[WebAuthnCredential]:
    return session.scalars(
        select(WebAuthnCredential)
        .where(WebAuthnCredential.user_id == user_id)
        .order_by(WebAuthnCredential.created_at)
    ).all()


def clients_owned_by(session: Session, user_id: str) -> Sequence[Client]:
    return session.scalars(
        select(Client).where(Client.owner_id == user_id).order_by(Client.created_at)
    ).all()


def audit_about(session: Session, user_id: str, limit: int = 200) -> Sequence[AuditEvent]:
    """The most recent audit events the person did or that were about them."""
    return session.scalars(
        select(AuditEvent)
        .where(
            or_(
                AuditEvent.actor_id == user_id,
                (AuditEvent.target_type == "user") & (AuditEvent.target_id == user_id),
            )
        )
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    ).all()


def delete_user(session: Session, user_id: str) -> bool:
    """Delete the person's row; the database cascades to everything hanging off it (password,
    sessions, grants and their tokens, consents, MFA factors, account links, role assignments)
    and sets the owner of their registered apps to NULL. Audit rows have no foreign key and
    stay (append-only)."""
    result = session.execute(
        delete(User).where(User.id == user_id).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
