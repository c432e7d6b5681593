"""``/admin/imports``: upload a staff CSV, watch it being validated (the page reloads itself
with a ``Refresh`` header while the job runs; progress is read from the database), read the
report, apply it (all or nothing)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.admin.access import FormDep, Staff, deny, runtime_of, staff
from sso.admin.services import staff_import
from sso.admin.views import back, page
from sso.core.clock import now
from sso.core.errors import DomainError, NotFound
from sso.db.models import ImportJob
from sso.storage import imports as job_repo
from sso.web.deps import SessionDep

router = APIRouter()
SHOWN = 200  # rows of each kind listed on the page (refusals: all, up to 2000)
STALLED = timedelta(minutes=5)


def start(fn: Callable[..., None], *args: Any) -> None:
    """Run ``fn`` on a thread of its own, with this request's context (request id, IP and
    user agent go into the audit events it writes)."""
    ctx = contextvars.copy_context()
    threading.Thread(target=ctx.run, args=(fn, *args), daemon=True, name="staff-import").start()


@router.get("/admin/imports")
def imports_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "users.import")
    jobs = job_repo.recent(session, None if who.is_admin else who.user.id)
    return page(request, "admin/imports.html", who, {"jobs": jobs})


@router.post("/admin/imports")
def upload(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, "users.import", next_path="/admin/imports")
    runtime = runtime_of(request)
    filename, content = form.files.get("file", ("", b""))
    try:
        if not content:
            raise DomainError("admin.import.empty")
        # Read once here so a file that is not CSV at all is refused on the spot.
        staff_import.parse(content, runtime.settings.admin_import_max_rows)
        text = content.decode("utf-8-sig")
    except DomainError as exc:
        jobs = job_repo.recent(session, None if who.is_admin else who.user.id)
        return page(request, "admin/imports.html", who, {
            "jobs": jobs, "error": exc.message, "error_params": exc.params}, status=400)
    job = job_repo.add(session, ImportJob(
        kind="staff", filename=filename, content=text, status="validating",
        created_by_id=who.user.id,
        scope_agency_ids=None if who.scope is None else sorted(who.scope),
        report={}, total=0, processed=0,
    ))
    session.commit()
    start(staff_import.validate, runtime.sessions, job.id, runtime.settings.admin_import_max_rows)
    return back(f"/admin/imports/{job.id}")


def _job(session: Session, who: Staff, job_id: str) -> ImportJob:
    job = job_repo.get(session, job_id[:36])
    if job is None:
        raise NotFound("admin.error.import_unknown")
    if not who.is_admin and job.created_by_id != who.user.id:
        raise deny(session, who.user, "not_own_import", target_id=job.id)
    if job.status in ("validating", "applying") and job.updated_at < now() - STALLED:
        job.status, job.error = "failed", "admin.import.interrupted"  # its worker died
        session.commit()
    return job


@router.get("/admin/imports/{job_id}")
def job_page(request: Request, session: SessionDep, job_id: str) -> Response:
    who = staff(request, session, "users.import")
    job = _job(session, who, job_id)
    rows = job.report.get("rows", []) if job.report else []
    grouped: dict[str, list[dict[str, Any]]] = {"create": [], "change": [], "refuse": []}
    for entry in rows:
        if entry["action"] in grouped:
            grouped[entry["action"]].append(entry)
    running = job.status in ("validating", "applying")
    response = page(request, "admin/import.html", who, {
        "job": job, "running": running, "counts": job.report.get("counts") if job.report else None,
        "applied": job.report.get("applied") if job.report else None,
        "creates": grouped["create"][:SHOWN], "changes": grouped["change"][:SHOWN],
        "refusals": grouped["refuse"][:2000], "shown": SHOWN,
        "percent": int(100 * job.processed / job.total) if job.total else 0,
    })
    if running:
        response.headers["Refresh"] = "1"
    return response


@router.post("/admin/imports/{job_id}/apply")
def apply(request: Request, session: SessionDep, form: FormDep, job_id: str) -> Response:
    path = f"/admin/imports/{job_id[:36]}"
    who = staff(request, session, "users.import", next_path=path)
    job = _job(session, who, job_id)
    counts = (job.report or {}).get("counts") or {}
    if not counts.get("create") and not counts.get("change"):
        return back(path)  # nothing to write (e.g. the same file again)
    if not job_repo.claim(session, job.id, "validated", "applying"):
        return back(path)  # applied (or being applied) already: a double click
    session.commit()
    runtime = runtime_of(request)
    start(staff_import.apply, runtime.sessions, job.id, runtime.settings.admin_import_max_rows)
    return back(path)
