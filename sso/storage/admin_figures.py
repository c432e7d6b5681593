"""Counts for the admin dashboard and the admin menu's badge: app registrations waiting for
review, and how many active staff members have a second factor (a confirmed authenticator app
or a passkey)."""

from __future__ import annotations

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from sso.db.models import Client, TotpCredential, User, WebAuthnCredential


def pending_clients(session: Session) -> int:
    """Developer registrations an admin has not approved or rejected yet."""
    return int(session.scalar(select(func.count()).select_from(Client)
                              .where(Client.status == "pending")) or 0)


def staff_mfa(session: Session) -> tuple[int, int]:
    """(active staff, of whom with a second factor)."""
    totp = exists().where(TotpCredential.user_id == User.id,
                          TotpCredential.confirmed_at.is_not(None))
    passkey = exists().where(WebAuthnCredential.user_id == User.id)
    stmt = select(func.count(), func.count().filter(or_(totp, passkey))).where(
        User.kind == "staff", User.status == "active")
    row = session.execute(stmt).one()
    return int(row[0] or 0), int(row[1] or 0)
