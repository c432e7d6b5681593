"""Batches of activation links: who is in a batch, claiming recipients exactly once, counting.

A recipient is claimed with one ``UPDATE … SET status='sending' WHERE status='pending' …
RETURNING user_id``: two workers on one batch (a resumed one while the old one still lives)
never get the same person, on every backend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import (
    AccountToken,
    ActivationBatch,
    ActivationSend,
    ImportRow,
    PasswordCredential,
    User,
)
from sso.db.models.account_tokens import ACCOUNT_ACTIVATION
from sso.db.types import UTCDateTime


def get(session: Session, batch_id: str) -> ActivationBatch | None:
    return session.get(ActivationBatch, batch_id, populate_existing=True)


def for_import(session: Session, job_id: str) -> ActivationBatch | None:
    return session.scalars(
        select(ActivationBatch).where(ActivationBatch.import_job_id == job_id)
    ).first()


def add(session: Session, batch: ActivationBatch) -> ActivationBatch:
    session.add(batch)
    session.flush()
    return batch


def _import_people(job_id: str, *columns: Any) -> Any:
    """People an import brought in or matched who could activate: active, with an email,
    without a password."""
    return (
        select(*(columns or (User.id,)))
        .select_from(User)
        .join(ImportRow, and_(ImportRow.nip_key == User.nip, ImportRow.job_id == job_id))
        .where(
            ImportRow.action != "refuse",
            User.status == "active",
            User.email.is_not(None),
            ~exists().where(PasswordCredential.user_id == User.id),
        )
    )


def count_for_import(session: Session, job_id: str) -> int:
    sub = _import_people(job_id).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def add_import_recipients(session: Session, batch_id: str, job_id: str) -> int:
    """List the batch's recipients (one statement); returns how many."""
    people = _import_people(
        job_id, literal(batch_id), User.id, literal("pending"), literal(now(), type_=UTCDateTime())
    )
    session.execute(
        insert(ActivationSend).from_select(["batch_id", "user_id", "status", "updated_at"], people)
    )
    return count(session, batch_id)


def add_recipients(session: Session, batch_id: str, user_ids: Sequence[str]) -> None:
    t = now()
    rows = [
        {"batch_id": batch_id, "user_id": u, "status": "pending", "updated_at": t} for u in user_ids
    ]
    if rows:
        session.execute(insert(cast(Table, ActivationSend.__table__)), rows)


def count(session: Session, batch_id: str, status: str | None = None) -> int:
    stmt = (
        select(func.count()).select_from(ActivationSend).where(ActivationSend.batch_id == batch_id)
    )
    if status is not None:
        stmt = stmt.where(ActivationSend.status == status)
    return int(session.scalar(stmt) or 0)


def take_lease(session: Session, batch_id: str, until: datetime) -> bool:
    """Become the batch's worker: only when nobody is (or the last one's lease ran out)."""
    t = now()
    result = session.execute(
        update(ActivationBatch)
        .where(
            ActivationBatch.id == batch_id,
            ActivationBatch.status != "sent",
            (ActivationBatch.lease_until.is_(None)) | (ActivationBatch.lease_until < t),
        )
        .values(lease_until=until, updated_at=t)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def set_batch(session: Session, batch_id: str, **values: Any) -> None:
    session.execute(
        update(ActivationBatch)
        .where(ActivationBatch.id == batch_id)
        .values(updated_at=now(), **values)
        .execution_options(synchronize_session=False)
    )


def claim(session: Session, batch_id: str, limit: int) -> list[str]:
    """Up to ``limit`` pending recipients, now ``sending``: each returned to one caller only."""
    pending = (
        select(ActivationSend.user_id)
        .where(ActivationSend.batch_id == batch_id, ActivationSend.status == "pending")
        .order_by(ActivationSend.user_id)
        .limit(limit)
        .scalar_subquery()
    )
    result = session.execute(
        update(ActivationSend)
        .where(
            ActivationSend.batch_id == batch_id,
            ActivationSend.status == "pending",
            ActivationSend.user_id.in_(pending),
        )
        .values(status="sending", updated_at=now())
        .returning(ActivationSend.user_id)
        .execution_options(synchronize_session=False)
    )
    return [str(u) for u in result.scalars().all()]


def mark(session: Session, batch_id: str, user_ids: Sequence[str], status: str) -> None:
    if user_ids:
        session.execute(
            update(ActivationSend)
            .where(ActivationSend.batch_id == batch_id, ActivationSend.user_id.in_(user_ids))
            .values(status=status, updated_at=now())
            .execution_options(synchronize_session=False)
        )


def give_up_sending(session: Session, batch_id: str) -> int:
    """Recipients a dead worker had claimed: whether their mail left is unknown, and a person
    must not get two links from one batch, so they count as failed (a new batch can retry)."""
    result = session.execute(
        update(ActivationSend)
        .where(ActivationSend.batch_id == batch_id, ActivationSend.status == "sending")
        .values(status="failed", updated_at=now())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def refresh_counts(session: Session, batch_id: str, **values: Any) -> None:
    """The batch's counters from its recipients (never incremented: a resumed batch stays
    right however its workers overlapped)."""

    def n(status: str) -> Any:
        return (
            select(func.count())
            .select_from(ActivationSend)
            .where(ActivationSend.batch_id == batch_id, ActivationSend.status == status)
            .scalar_subquery()
        )

    set_batch(session, batch_id, sent=n("sent"), failed=n("failed") + n("skipped"), **values)


def finish(session: Session, batch_id: str) -> bool:
    """Mark the batch sent; True for the one caller that did."""
    result = session.execute(
        update(ActivationBatch)
        .where(ActivationBatch.id == batch_id, ActivationBatch.status != "sent")
        .values(status="sent", finished_at=now(), lease_until=None, updated_at=now())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def users(session: Session, user_ids: Sequence[str]) -> Sequence[User]:
    return session.scalars(select(User).where(User.id.in_(list(user_ids)))).unique().all()


def void_unused_tokens(session: Session, user_ids: Sequence[str]) -> None:
    """Older unspent activation links of these people (a new one is on its way)."""
    if user_ids:
        session.execute(
            update(AccountToken)
            .where(
                AccountToken.user_id.in_(list(user_ids)),
                AccountToken.kind == ACCOUNT_ACTIVATION,
                AccountToken.consumed_at.is_(None),
                AccountToken.voided_at.is_(None),
            )
            .values(voided_at=now())
            .execution_options(synchronize_session=False)
        )


def insert_tokens(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(cast(Table, AccountToken.__table__)), rows)
