"""Mailing activation links to the staff an import brought in (``/admin/imports/{id}``).

One batch per import. Starting it lists the recipients (people of the import's rows who are
active, have an email and no password yet) in the worker, then the worker goes through them in
chunks: claim a chunk (``pending`` → ``sending``, each person to one worker only), store a new
link per person (older unused ones voided) and commit, send the chunk's mails over one SMTP
connection with no transaction open, then record who got theirs and the batch's counters, and
renew its lease. A worker that dies stops renewing; the page then offers to continue, and the
next worker gives up on the people the dead one had claimed (their mail may have gone: nobody
gets two links from one batch) and goes on with the rest. Events: ``activation.batch_started``
(actor: the admin), ``activation.batch_sent`` (counts) when the last chunk is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.accounts.activation import can_activate, new_link
from sso.accounts.mail import Mailer
from sso.config import Settings
from sso.core.clock import now
from sso.core.events import Event
from sso.db.models import ActivationBatch, ImportJob
from sso.storage import activations as repo
from sso.storage import audit

ACTIVATION_BATCH_STARTED = Event.ACTIVATION_BATCH_STARTED
ACTIVATION_BATCH_SENT = Event.ACTIVATION_BATCH_SENT
LEASE = timedelta(minutes=2)
CHUNK = 200
SessionFactory = Callable[[], Session]
log = logging.getLogger("sso.admin.activation")


def batch_for_import(session: Session, job_id: str) -> ActivationBatch | None:
    return repo.for_import(session, job_id)


def count_for_import(session: Session, job_id: str) -> int:
    return repo.count_for_import(session, job_id)


def running(batch: ActivationBatch) -> bool:
    """A worker is (or is about to be) at it."""
    if batch.status == "sent":
        return False
    if batch.lease_until is None:
        return batch.updated_at > now() - LEASE  # just started, no worker yet
    return batch.lease_until > now()


def stalled(batch: ActivationBatch) -> bool:
    return batch.status != "sent" and not running(batch)


def claimable(batch: ActivationBatch) -> bool:
    return batch.status != "sent" and (batch.lease_until is None or batch.lease_until < now())


def percent(batch: ActivationBatch) -> int:
    if batch.status == "sent":
        return 100
    return int(100 * (batch.sent + batch.failed) / batch.total) if batch.total else 0


def start_for_import(
    session: Session, job: ImportJob, *, actor_id: str, locale: str
) -> ActivationBatch:
    """The import's batch, made now if it has none (a double click finds the first one)."""
    found = repo.for_import(session, job.id)
    if found is not None:
        if stalled(found):
            audit.record(
                session,
                Event.ACTIVATION_BATCH_RESUMED,
                actor_id=actor_id,
                target_type="import",
                target_id=job.id,
                batch=found.id,
            )
        return found
    try:
        with session.begin_nested():
            batch = repo.add(
                session,
                ActivationBatch(
                    import_job_id=job.id,
                    created_by_id=actor_id,
                    status="preparing",
                    locale=locale if locale in ("id", "en") else "id",
                ),
            )
    except IntegrityError:  # another admin (or tab) made it a moment ago
        found = repo.for_import(session, job.id)
        assert found is not None
        return found
    audit.record(
        session,
        ACTIVATION_BATCH_STARTED,
        actor_id=actor_id,
        target_type="import",
        target_id=job.id,
        batch=batch.id,
    )
    return batch


def run_batch(sessions: SessionFactory, settings: Settings, mailer: Mailer, batch_id: str) -> None:
    """Send the batch (in a worker thread). Returns at once when another worker holds it;
    never raises (a failure leaves the batch to be continued once its lease runs out)."""
    try:
        _run(sessions, settings, mailer, batch_id)
    except Exception as exc:  # noqa: BLE001 (a thread's end; the page offers to continue)
        log.error("activation batch %s stopped: %s", batch_id, type(exc).__name__)


def _run(sessions: SessionFactory, settings: Settings, mailer: Mailer, batch_id: str) -> None:
    with sessions() as s:
        if not repo.take_lease(s, batch_id, now() + LEASE):
            s.rollback()
            return
        batch = repo.get(s, batch_id)
        assert batch is not None
        if batch.status == "preparing":
            assert batch.import_job_id is not None
            total = repo.add_import_recipients(s, batch_id, batch.import_job_id)
            repo.set_batch(s, batch_id, status="sending", total=total)
        else:
            repo.give_up_sending(s, batch_id)  # claimed by a worker that died
        repo.refresh_counts(s, batch_id)
        actor = batch.created_by_id
        s.commit()
    while _send_chunk(sessions, settings, mailer, batch_id):
        pass
    with sessions() as s:
        repo.refresh_counts(s, batch_id)
        if repo.count(s, batch_id, "sending") == 0 and repo.finish(s, batch_id):
            batch = repo.get(s, batch_id)
            assert batch is not None
            audit.record(
                s,
                ACTIVATION_BATCH_SENT,
                actor_id=actor,
                target_type="import",
                target_id=batch.import_job_id,
                batch=batch_id,
                total=batch.total,
                sent=batch.sent,
                failed=batch.failed,
            )
        s.commit()


def _send_chunk(
    sessions: SessionFactory, settings: Settings, mailer: Mailer, batch_id: str
) -> bool:
    """One chunk; False when nothing was left to claim."""
    with sessions() as s:
        claimed = repo.claim(s, batch_id, CHUNK)
        if not claimed:
            s.rollback()
            return False
        people = [u for u in repo.users(s, claimed) if can_activate(u)]
        skipped = sorted(set(claimed) - {u.id for u in people})
        repo.mark(s, batch_id, skipped, "skipped")  # activated (or disabled) meanwhile
        repo.void_unused_tokens(s, [u.id for u in people])
        t = now()
        links = [new_link(settings, u, t) for u in people]  # in each person's language
        repo.insert_tokens(s, [link.row for link in links])
        repo.set_batch(s, batch_id, lease_until=t + LEASE)
        s.commit()
        ids = [u.id for u in people]
    results = mailer.send_many([link.mail for link in links])
    with sessions() as s:
        repo.mark(s, batch_id, [i for i, ok in zip(ids, results, strict=True) if ok], "sent")
        repo.mark(s, batch_id, [i for i, ok in zip(ids, results, strict=True) if not ok], "failed")
        repo.refresh_counts(s, batch_id, lease_until=now() + LEASE)
        s.commit()
    return True
