"""Upstream identity providers, the identities linked to them, and the round-trip state of an
upstream login (single use: consumed atomically by :mod:`sso.storage.single_use`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from sso.db.models import (
    FederatedIdentity,
    PasswordCredential,
    UpstreamLogin,
    UpstreamProvider,
    User,
    WebAuthnCredential,
)
from sso.storage.admin_lists import Page, clean
from sso.storage.single_use import SingleUse

# ---------------------------------------------------------------------------- providers


def add(session: Session, row: UpstreamProvider) -> UpstreamProvider:
    session.add(row)
    session.flush()
    return row


def get(session: Session, upstream_id: str) -> UpstreamProvider | None:
    return session.get(UpstreamProvider, upstream_id)


def get_by_slug(session: Session, slug: str) -> UpstreamProvider | None:
    return session.scalar(select(UpstreamProvider).where(UpstreamProvider.slug == slug))


def slug_taken(session: Session, slug: str) -> bool:
    return get_by_slug(session, slug) is not None


def list_all(session: Session, *, enabled_only: bool = False) -> list[UpstreamProvider]:
    stmt = select(UpstreamProvider).order_by(UpstreamProvider.name, UpstreamProvider.slug)
    if enabled_only:
        stmt = stmt.where(UpstreamProvider.enabled.is_(True))
    return list(session.scalars(stmt))


def search(
    session: Session, *, query: str = "", number: int = 1, size: int = 25
) -> Page[UpstreamProvider]:
    """Upstreams whose name, slug or issuer contains ``query`` (any case), by name."""
    stmt = select(UpstreamProvider)
    text = clean(query).casefold()
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        stmt = stmt.where(
            or_(
                func.lower(UpstreamProvider.name).like(pattern, escape="\\"),
                func.lower(UpstreamProvider.slug).like(pattern, escape="\\"),
                func.lower(UpstreamProvider.issuer).like(pattern, escape="\\"),
            )
        )
    number = max(1, min(number, 100_000))
    stmt = stmt.order_by(UpstreamProvider.name, UpstreamProvider.id)
    found = list(session.scalars(stmt.offset((number - 1) * size).limit(size + 1)))
    return Page(found[:size], number, len(found) > size)


def count_links(session: Session, upstream_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(FederatedIdentity)
            .where(FederatedIdentity.upstream_id == upstream_id)
        )
        or 0
    )


# ---------------------------------------------------------------------------- linked identities


def find_identity(session: Session, upstream_id: str, subject: str) -> FederatedIdentity | None:
    return session.scalar(
        select(FederatedIdentity).where(
            FederatedIdentity.upstream_id == upstream_id, FederatedIdentity.subject == subject
        )
    )


def identity_of_user(session: Session, user_id: str, upstream_id: str) -> FederatedIdentity | None:
    return session.scalar(
        select(FederatedIdentity).where(
            FederatedIdentity.user_id == user_id, FederatedIdentity.upstream_id == upstream_id
        )
    )


def identities_of_user(
    session: Session, user_id: str
) -> list[tuple[FederatedIdentity, UpstreamProvider]]:
    rows = session.execute(
        select(FederatedIdentity, UpstreamProvider)
        .join(UpstreamProvider, UpstreamProvider.id == FederatedIdentity.upstream_id)
        .where(FederatedIdentity.user_id == user_id)
        .order_by(FederatedIdentity.created_at, FederatedIdentity.id)
    ).all()
    return [(r[0], r[1]) for r in rows]


def add_identity(session: Session, row: FederatedIdentity) -> FederatedIdentity:
    session.add(row)
    session.flush()
    return row


def delete_identity(session: Session, identity_id: str, user_id: str) -> bool:
    result = session.execute(
        delete(FederatedIdentity)
        .where(FederatedIdentity.id == identity_id, FederatedIdentity.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def touch_identity(session: Session, identity_id: str, at: datetime) -> None:
    session.execute(
        update(FederatedIdentity)
        .where(FederatedIdentity.id == identity_id)
        .values(last_used_at=at)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------------------- round trips


def add_login(session: Session, row: UpstreamLogin) -> UpstreamLogin:
    session.add(row)
    session.flush()
    return row


def get_login(session: Session, id_hash: str) -> UpstreamLogin | None:
    return session.get(UpstreamLogin, id_hash)


def consume_login(session: Session, id_hash: str) -> bool:
    """Atomically use a round trip (a ``state`` or a continuation); True for the one caller."""
    return LOGINS.try_consume(session, id_hash)


LOGINS = SingleUse(UpstreamLogin, "id_hash")


def delete_expired_logins(session: Session, before: datetime) -> int:
    result = session.execute(
        delete(UpstreamLogin)
        .where(UpstreamLogin.expires_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- matching people


def user_by_email(session: Session, email_normalized: str) -> User | None:
    return session.scalar(select(User).where(User.email_normalized == email_normalized))


def staff_by_nip(session: Session, nip: str) -> User | None:
    return session.scalar(select(User).where(User.nip == nip, User.kind == "staff"))


def other_ways_to_log_in(session: Session, user_id: str, except_identity: str) -> int:
    """Ways the person logs in besides one linked identity: a password, a passkey, another
    identity linked at an enabled upstream."""
    count = 0
    if session.get(PasswordCredential, user_id) is not None:
        count += 1
    count += int(
        session.scalar(
            select(func.count())
            .select_from(WebAuthnCredential)
            .where(WebAuthnCredential.user_id == user_id)
        )
        or 0
    )
    count += int(
        session.scalar(
            select(func.count())
            .select_from(FederatedIdentity)
            .join(UpstreamProvider, UpstreamProvider.id == FederatedIdentity.upstream_id)
            .where(
                FederatedIdentity.user_id == user_id,
                FederatedIdentity.id != except_identity,
                UpstreamProvider.enabled.is_(True),
            )
        )
        or 0
    )
    return count
