"""People by a verified phone number or email address (the passwordless lookups), and the rule
that a verified number belongs to one account at a time."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sso.db.models import User


def find_by_verified_phone(session: Session, e164: str) -> User | None:
    stmt = (
        select(User)
        .where(User.phone == e164, User.phone_verified.is_(True))
        .order_by(User.updated_at.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def find_by_verified_email(session: Session, normalized: str) -> User | None:
    stmt = select(User).where(User.email_normalized == normalized, User.email_verified.is_(True))
    return session.scalars(stmt).first()


def unverify_elsewhere(session: Session, e164: str, owner_id: str) -> list[str]:
    """The number was just proven by ``owner_id``: on every other account it is no longer
    verified (numbers are recycled by operators). Returns those accounts' ids."""
    others = list(
        session.scalars(
            select(User.id).where(
                User.phone == e164, User.phone_verified.is_(True), User.id != owner_id
            )
        )
    )
    if others:
        session.execute(
            update(User)
            .where(User.id.in_(others))
            .values(phone_verified=False)
            .execution_options(synchronize_session="fetch")
        )
    return others
