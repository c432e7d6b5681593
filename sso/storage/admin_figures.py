"""Counts for the admin dashboard and the admin menu's badge: app registrations waiting for
review, and how many active staff members have a second factor (a confirmed authenticator app
or a passkey)."""

from __future__ import annotations

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from sso.db.models import Client, TotpCredential, User, WebAuthnCredential


def pending_clients(session: Session) -> int:
    """Developer registrations an admin has not approved or rejected yet."""
    return int(
        session.scalar(select(func.count()).select_from(Client).where(Client.status == "pending"))
        or 0
    )


def staff_mfa(session: Session) -> tuple[int, int]:
    """(active staff, of whom with a second factor).

    Both from ``ix_users_kind_status`` alone (index-only), the second factor by a probe per
    staff member into the credential tables' keys: no heap read of ``users``, however the
    staff rows are spread among a million citizens."""
    active = (User.kind == "staff", User.status == "active")
    total = session.scalar(select(func.count(User.id)).where(*active))
    holders = union(
        select(TotpCredential.user_id).where(TotpCredential.confirmed_at.is_not(None)),
        select(WebAuthnCredential.user_id),
    ).subquery()
    with_mfa = session.scalar(
        select(func.count(User.id)).where(*active, User.id.in_(select(holders.c.user_id)))
    )
    return int(total or 0), int(with_mfa or 0)
