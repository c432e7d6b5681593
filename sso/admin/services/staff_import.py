"""Bulk import of staff from CSV (NIP, name, email, agency code, position).

1. :func:`~sso.admin.services.staff_csv.parse_file` reads the file from the temporary file the
   upload was streamed to; a file that cannot be read is refused as a whole, with the reason.
2. :func:`validate` checks every row (:mod:`sso.admin.services.staff_check`) and writes one
   :class:`~sso.db.models.ImportRow` per row: *create* (a new NIP), *change* (a known NIP
   whose name, email, agency or position differ: the fields are listed), *unchanged*, or
   *refuse* with reasons that name the refused value (bad NIP, bad email, unknown agency or one
   outside the uploader's agencies, a NIP or email twice in the file, an email or username
   owned by someone else). It works in chunks of short transactions and stores its progress in
   the job row, so any worker can show it and the database is never locked for long.
3. :func:`apply` writes all the creates and changes in **one** transaction, after validating
   again inside it (from the rows stored in step 2: the file itself is gone by then, and the
   worker applying may not be the one that received it): if anything differs from the report
   the admin saw (someone edited a person meanwhile), nothing is written and the job fails with
   that reason. Refused rows are never written. Re-running a file that was applied finds every
   row *unchanged* and writes nothing.

New staff get their NIP as username and no password (an admin sends them activation links:
:mod:`sso.admin.services.activation`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_email, validate_nip
from sso.admin.services.staff_check import classify, prepare, summary
from sso.admin.services.staff_csv import Row, parse_file
from sso.core.clock import now
from sso.core.errors import DomainError
from sso.core.events import Event
from sso.db.models._common import new_uuid
from sso.storage import audit
from sso.storage import directory as dir_repo
from sso.storage import imports as job_repo

CHUNK = 500
SessionFactory = Callable[[], Session]


# ---------------------------------------------------------------------------- the job


def _scope(job_scope: list[int] | None) -> set[int] | None:
    return None if job_scope is None else set(job_scope)


def validate(sessions: SessionFactory, job_id: str, max_rows: int, path: Path) -> None:
    """Run the validation of a ``validating`` job (in a worker thread) on the file at ``path``
    (deleted when read); never raises."""
    with sessions() as s:
        job = job_repo.get(s, job_id)
        assert job is not None
        scope, actor = _scope(job.scope_agency_ids), job.created_by_id
        agencies = list(dir_repo.all_agencies(s))
        s.expunge_all()
        s.rollback()
    try:
        try:
            rows = parse_file(path, max_rows)
        finally:
            path.unlink(missing_ok=True)
        with sessions() as s:
            job_repo.set_progress(s, job_id, 0, total=len(rows))
            s.commit()
        checked = prepare(rows, agencies, scope)
        counts = {"create": 0, "change": 0, "unchanged": 0, "refuse": 0}
        for i in range(0, len(checked), CHUNK):
            with sessions() as s:  # a short transaction per chunk: its rows and the progress
                entries = classify(s, checked[i : i + CHUNK], scope)
                job_repo.insert_rows(s, [{"job_id": job_id, **e} for e in entries])
                job_repo.set_progress(s, job_id, min(i + CHUNK, len(checked)))
                s.commit()
            for action, n in summary(entries).items():
                counts[action] += n
    except DomainError as exc:
        _fail(sessions, job_id, actor, exc.message, exc.params, drop_rows=True)
        return
    except Exception as exc:  # noqa: BLE001 (the job must end in a state, never hang)
        _fail(
            sessions,
            job_id,
            actor,
            "admin.import.crashed",
            drop_rows=True,
            detail=type(exc).__name__,
        )
        return
    with sessions() as s:
        job_repo.set_progress(s, job_id, len(rows), status="validated", report={"counts": counts})
        audit.record(
            s,
            Event.IMPORT_VALIDATED,
            actor_id=actor,
            target_type="import",
            target_id=job_id,
            counts=counts,
        )
        s.commit()


def _fail(
    sessions: SessionFactory,
    job_id: str,
    actor: str | None,
    message: str,
    params: dict[str, Any] | None = None,
    *,
    drop_rows: bool = False,
    **details: Any,
) -> None:
    with sessions() as s:
        job = job_repo.get(s, job_id)
        if job is not None:
            job.status, job.error = "failed", message
            if params:
                job.report = {**(job.report or {}), "error_params": params}
        if drop_rows:  # a check that failed half-way leaves no half a report
            job_repo.delete_rows(s, job_id)
        audit.record(
            s,
            Event.IMPORT_FAILED,
            outcome="failure",
            actor_id=actor,
            target_type="import",
            target_id=job_id,
            reason=message,
            **details,
        )
        s.commit()


def _plan(report: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["line"], e["action"], tuple(e.get("changes") or ()), e.get("version"))
        for e in report
        if e["action"] in ("create", "change")
    ]


def _stored(sessions: SessionFactory, job_id: str) -> tuple[list[Row], list[tuple[Any, ...]]]:
    """The rows of the file and the plan the admin saw, read back from the report."""
    rows: list[Row] = []
    seen: list[dict[str, Any]] = []
    with sessions() as s:
        for r in job_repo.each_row(s, job_repo.RowQuery(job_id)):
            rows.append(Row(r.line, r.nip, r.name, r.email, r.agency, r.position))
            seen.append(
                {"line": r.line, "action": r.action, "changes": r.changes, "version": r.version}
            )
        s.rollback()
    return rows, _plan(seen)


def apply(sessions: SessionFactory, job_id: str, max_rows: int) -> None:
    """Write the job's creates and changes all at once, or nothing (in a worker thread)."""
    with sessions() as s:
        job = job_repo.get(s, job_id)
        assert job is not None
        scope, actor = _scope(job.scope_agency_ids), job.created_by_id
        s.rollback()
    try:
        rows, seen = _stored(sessions, job_id)
        total = len(rows)

        def progress(n: int) -> None:
            with sessions() as p:
                job_repo.set_progress(p, job_id, n)
                p.commit()

        with sessions() as s:
            # On SQLite the writer holds the only write lock from its first statement: the
            # progress of an apply is shown once it is done. Elsewhere it is committed beside.
            live = s.get_bind().dialect.name != "sqlite"
            step = progress if live else (lambda n: None)
            checked = prepare(rows, dir_repo.all_agencies(s), scope)
            report: list[dict[str, Any]] = []
            for i in range(0, len(checked), CHUNK):
                report.extend(classify(s, checked[i : i + CHUNK], scope))
                step(min(i + CHUNK, total) // 2)
            if _plan(report) != seen:
                s.rollback()
                _fail(sessions, job_id, actor, "admin.import.changed_meanwhile")
                return
            counts = _write(
                s,
                report,
                actor,
                job_id,
                lambda done, of: step(total // 2 + (total - total // 2) * done // max(of, 1)),
            )
            job_repo.set_progress(
                s,
                job_id,
                total,
                status="applied",
                applied_at=now(),
                report={"counts": summary(report), "applied": counts},
            )
            audit.record(
                s,
                Event.IMPORT_APPLIED,
                actor_id=actor,
                target_type="import",
                target_id=job_id,
                created=counts["created"],
                changed=counts["changed"],
            )
            s.commit()
    except DomainError as exc:
        _fail(sessions, job_id, actor, exc.message, exc.params)
    except Exception as exc:  # noqa: BLE001
        _fail(sessions, job_id, actor, "admin.import.crashed", detail=type(exc).__name__)


class _Stale(DomainError):
    pass


def _write(
    s: Session,
    report: list[dict[str, Any]],
    actor: str | None,
    job_id: str,
    progress: Callable[[int, int], None],
) -> dict[str, int]:
    t = now()
    by_code = {a.code.casefold(): a.id for a in dir_repo.all_agencies(s)}
    new_rows, audit_rows = [], []
    changed = 0
    for e in report:
        if e["action"] not in ("create", "change"):
            continue
        agency_id = by_code.get(str(e["agency"]).casefold())
        name = " ".join(str(e["name"]).split())
        email_norm = normalize_email(e["email"]) if e["email"] else None
        if e["action"] == "create":
            nip = validate_nip(e["nip"])
            uid = new_uuid()
            new_rows.append(
                {
                    "id": uid,
                    "kind": "staff",
                    "username": nip,
                    "username_normalized": nip,
                    "email": e["email"] or None,
                    "email_normalized": email_norm,
                    "email_verified": bool(e["email"]),
                    "phone": None,
                    "phone_verified": False,
                    "display_name": name,
                    "display_name_search": name.casefold(),
                    "given_name": None,
                    "family_name": None,
                    "locale": "id",
                    "status": "active",
                    "nip": nip,
                    "agency_id": agency_id,
                    "position": e["position"] or None,
                    "nik_encrypted": None,
                    "nik_hash": None,
                    "created_at": t,
                    "updated_at": t,
                    "version": 1,
                }
            )
            audit_rows.append(
                {
                    "event": Event.USER_CREATED,
                    "actor_id": actor,
                    "target_type": "user",
                    "target_id": uid,
                    "details": {"kind": "staff", "import": job_id},
                }
            )
        elif e["action"] == "change":
            values = {
                "display_name": name,
                "display_name_search": name.casefold(),
                "email": e["email"] or None,
                "email_normalized": email_norm,
                "agency_id": agency_id,
                "position": e["position"] or None,
            }
            if not job_repo.update_user(s, e["user_id"], e["version"], values):
                raise _Stale("admin.import.changed_meanwhile")
            changed += 1
            audit_rows.append(
                {
                    "event": Event.USER_UPDATED,
                    "actor_id": actor,
                    "target_type": "user",
                    "target_id": e["user_id"],
                    "details": {"fields": e["changes"], "import": job_id},
                }
            )
    for i in range(0, len(new_rows), 2000):
        job_repo.insert_users(s, new_rows[i : i + 2000])
        progress(min(i + 2000, len(new_rows)), len(new_rows))
    job_repo.insert_audit(s, audit_rows, t)
    return {"created": len(new_rows), "changed": changed}
