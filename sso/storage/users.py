"""Users repository: lookups by every login identifier, keyset-paginated listing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, or_, select, update
from sqlalchemy.orm import Session

from sso.db.models import PasswordCredential, User
from sso.db.models.accounts import search_text_of


def get(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def find_by_login(session: Session, normalized: str) -> User | None:
    """The user whose username, email or NIP equals ``normalized`` (already normalised)."""
    if not normalized.isprintable():  # none of them holds a control character (nor can
        return None  # PostgreSQL compare with NUL: it refuses the query)
    stmt = select(User).where(
        or_(
            User.username_normalized == normalized,
            User.email_normalized == normalized,
            User.nip == normalized,
        )
    )
    return session.scalars(stmt).first()


def username_taken(session: Session, normalized: str) -> bool:
    return session.scalar(select(User.id).where(User.username_normalized == normalized)) is not None


def email_taken(session: Session, normalized: str) -> bool:
    return session.scalar(select(User.id).where(User.email_normalized == normalized)) is not None


def nip_taken(session: Session, nip: str) -> bool:
    return session.scalar(select(User.id).where(User.nip == nip)) is not None


def add(session: Session, user: User) -> User:
    session.add(user)
    session.flush()
    return user


def set_password_hash(
    session: Session, user_id: str, password_hash: str, changed_at: object
) -> None:
    cred = session.get(PasswordCredential, user_id)
    if cred is None:
        session.add(
            PasswordCredential(user_id=user_id, password_hash=password_hash, changed_at=changed_at)
        )
    else:
        cred.password_hash = password_hash
        cred.changed_at = changed_at  # type: ignore[assignment]


def replace_password_hash_if_unchanged(
    session: Session, user_id: str, old_hash: str, new_hash: str
) -> bool:
    """Transparent re-hash on login: only if no one changed the password meanwhile."""
    result = session.execute(
        update(PasswordCredential)
        .where(PasswordCredential.user_id == user_id, PasswordCredential.password_hash == old_hash)
        .values(password_hash=new_hash)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_page(
    session: Session, *, after: str | None = None, limit: int = 100, kind: str | None = None
) -> Sequence[User]:
    """Users ordered by username, keyset-paginated (no OFFSET scans)."""
    stmt = select(User).order_by(User.username_normalized).limit(limit)
    if after is not None:
        stmt = stmt.where(User.username_normalized > after)
    if kind:
        stmt = stmt.where(User.kind == kind)
    return session.scalars(stmt).all()


def count_admins(session: Session) -> int:
    from sqlalchemy import func

    from sso.db.models import Role, RoleAssignment

    stmt = (
        select(func.count())
        .select_from(RoleAssignment)
        .join(Role, Role.id == RoleAssignment.role_id)
        .where(Role.name == "admin", Role.client_id.is_(None), RoleAssignment.user_id.is_not(None))
    )
    return int(session.scalar(stmt) or 0)


def record_login(session: Session, user_id: str, at: datetime) -> None:
    """Note a new login session on the person (the admin list sorts by it). A Core update:
    neither the optimistic ``version`` nor ``updated_at`` moves, so a login never makes an
    admin's open edit form stale."""
    users: Table = User.__table__  # type: ignore[assignment]
    session.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(last_login_at=at, updated_at=users.c.updated_at)
    )


def refresh_search_text(session: Session, user_ids: Sequence[str]) -> None:
    """Recompute ``search_text`` of people changed by a bulk (Core) update."""
    users: Table = User.__table__  # type: ignore[assignment]
    for i in range(0, len(user_ids), 500):
        rows = session.execute(
            select(
                users.c.id, users.c.display_name, users.c.username, users.c.email, users.c.nip
            ).where(users.c.id.in_(list(user_ids[i : i + 500])))
        ).all()
        for uid, name, username, email, nip in rows:
            session.execute(
                update(users)
                .where(users.c.id == uid)
                .values(
                    search_text=search_text_of(name, username, email, nip),
                    updated_at=users.c.updated_at,
                )
            )
