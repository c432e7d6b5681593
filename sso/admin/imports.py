"""``/admin/imports``: upload a staff CSV, watch it being checked (the page reloads itself with a
``Refresh`` header while the job runs; progress is read from the database, so any worker can
show it), read the report (paged, filtered by outcome, searched; the refused rows as CSV), apply
it (all or nothing), then mail activation links to the people it brought in.

The upload is the one route with a large body (:func:`sso.web.middleware.body_limit`), read by
:mod:`sso.admin.import_upload` into a file of our own, which the check reads as a stream and
deletes. A refusal (too big, too many rows, a spreadsheet instead of CSV, not UTF-8, missing
columns) is the upload page with the reason in the admin's language, never JSON and never a
500.
"""

from __future__ import annotations

import contextvars
import csv
import io
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from sso.admin.access import FormDep, Staff, deny, staff
from sso.admin.import_upload import COPY_CHUNK, MAX_BODY_BYTES, MAX_FILE_BYTES, UploadDep
from sso.admin.services import activation, staff_csv, staff_import
from sso.admin.views import back, page
from sso.core.clock import now
from sso.core.errors import DomainError, NotFound
from sso.db.models import ImportJob
from sso.storage import imports as job_repo
from sso.web.deps import SessionDep, runtime_of
from sso.web.i18n import negotiate_locale, translate
from sso.web.middleware import body_limit
from sso.web.templating import default_locale

router = APIRouter()
PAGE_SIZE = 50
STALLED = timedelta(minutes=5)
SHOW = ("create", "change", "unchanged", "refuse")


def start(fn: Callable[..., None], *args: Any) -> None:
    """Run ``fn`` on a thread of its own, with this request's context (request id, IP and
    user agent go into the audit events it writes)."""
    ctx = contextvars.copy_context()
    threading.Thread(target=ctx.run, args=(fn, *args), daemon=True, name="staff-import").start()


def _locale(request: Request) -> str:
    return negotiate_locale(request, default=default_locale(request))


def _jobs(session: Session, who: Staff) -> Any:
    return job_repo.recent(session, None if who.is_admin else who.user.id)


@router.get("/admin/imports")
def imports_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "users.import")
    return page(
        request,
        "admin/imports.html",
        who,
        {
            "jobs": _jobs(session, who),
            "max_mb": MAX_FILE_BYTES // (1024 * 1024),
            "max_rows": runtime_of(request).settings.admin_import_max_rows,
        },
    )


@router.post("/admin/imports")
@body_limit(MAX_BODY_BYTES)
def upload(request: Request, session: SessionDep, upload: UploadDep) -> Response:
    who = staff(request, session, "users.import", next_path="/admin/imports")
    runtime = runtime_of(request)
    max_rows = runtime.settings.admin_import_max_rows
    try:
        if upload.error:
            raise DomainError(upload.error, **upload.params)
        assert upload.path is not None
        # Read once here (as a stream) so a file that is not a staff CSV is refused at once.
        staff_csv.parse_file(upload.path, max_rows)
    except DomainError as exc:
        status = 413 if exc.message == "admin.import.too_big" else 400
        return page(
            request,
            "admin/imports.html",
            who,
            {
                "jobs": _jobs(session, who),
                "error": exc.message,
                "error_params": exc.params,
                "max_mb": MAX_FILE_BYTES // (1024 * 1024),
                "max_rows": max_rows,
            },
            status=status,
        )
    job = job_repo.add(
        session,
        ImportJob(
            kind="staff",
            filename=upload.filename,
            content="",
            status="validating",
            created_by_id=who.user.id,
            scope_agency_ids=None if who.scope is None else sorted(who.scope),
            report={},
            total=0,
            processed=0,
        ),
    )
    session.commit()
    upload.kept = True
    start(staff_import.validate, runtime.sessions, job.id, max_rows, upload.path)
    return back(f"/admin/imports/{job.id}")


# ---------------------------------------------------------------------------- the report


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


def _query(request: Request, job: ImportJob) -> tuple[job_repo.RowQuery, str, str, int]:
    qp = request.query_params
    show = qp.get("show", "")
    show = show if show in SHOW else ""
    text = " ".join(qp.get("q", "")[:100].split())
    number = qp.get("page", "1")
    page_no = max(1, min(int(number), 10_000)) if number.isdigit() else 1
    query = job_repo.RowQuery(job.id, (show,) if show else (), text.casefold())
    return query, show, text, page_no


@router.get("/admin/imports/{job_id}")
def job_page(request: Request, session: SessionDep, job_id: str) -> Response:
    who = staff(request, session, "users.import")
    job = _job(session, who, job_id)
    running = job.status in ("validating", "applying")
    report = job.report or {}
    context: dict[str, Any] = {
        "job": job,
        "running": running,
        "counts": report.get("counts"),
        "applied": report.get("applied"),
        "error_params": report.get("error_params") or {},
        "percent": int(100 * job.processed / job.total) if job.total else 0,
    }
    if report.get("counts") and not running:
        query, show, text, page_no = _query(request, job)
        total = job_repo.count_rows(session, query)
        pages = max(1, -(-total // PAGE_SIZE))
        page_no = min(page_no, pages)
        context.update(
            rows=job_repo.rows_page(session, query, (page_no - 1) * PAGE_SIZE, PAGE_SIZE),
            show=show,
            q=text,
            page_no=page_no,
            pages=pages,
            matching=total,
            page_size=PAGE_SIZE,
        )
    batch = activation.batch_for_import(session, job.id) if job.status == "applied" else None
    if batch is not None:
        context.update(
            batch=batch,
            batch_running=activation.running(batch),
            batch_stalled=activation.stalled(batch),
            batch_percent=activation.percent(batch),
        )
    elif job.status == "applied":
        context["to_activate"] = activation.count_for_import(session, job.id)
    response = page(request, "admin/import.html", who, context)
    if running or (batch is not None and context.get("batch_running")):
        # With the URL: a browser told to refresh a URL with a #fragment only scrolls.
        qs = f"?{request.url.query}" if request.url.query else ""
        response.headers["Refresh"] = f"1; url={request.url.path}{qs}"
    return response


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (CSV injection)."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def reason_text(locale: str, reason: object) -> str:
    if isinstance(reason, dict):
        return translate(
            locale,
            str(reason.get("key")),
            value=reason.get("value", ""),
            line=reason.get("line", ""),
        )
    return translate(locale, str(reason))


@router.get("/admin/imports/{job_id}/refused.csv")
def refused_csv(request: Request, session: SessionDep, job_id: str) -> Response:
    """The refused rows as they were in the file, with the reasons (in the admin's language),
    so they can be fixed and uploaded again."""
    who = staff(request, session, "users.import")
    job = _job(session, who, job_id)
    locale = _locale(request)
    header = [
        "line",
        "nip",
        "name",
        "email",
        "agency_code",
        "position",
        translate(locale, "admin.import.reasons"),
    ]
    # Written to a spooled file (memory up to 1 MB, then the var dir), read in chunks here,
    # streamed from the file: 50,000 refused rows are never one string in memory.
    folder = runtime_of(request).settings.var_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024, dir=str(folder))  # noqa: SIM115
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(header)
    for row in job_repo.each_row(session, job_repo.RowQuery(job.id, ("refuse",))):
        reasons = "; ".join(reason_text(locale, r) for r in row.reasons or [])
        writer.writerow(
            [
                row.line,
                *(
                    _cell(v)
                    for v in (row.nip, row.name, row.email, row.agency, row.position, reasons)
                ),
            ]
        )
    text.detach()
    session.rollback()
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := spool.read(COPY_CHUNK):
                yield chunk
        finally:
            spool.close()

    name = f"ditolak-{job.id[:8]}.csv"
    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


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


# ---------------------------------------------------------------------------- activation links


@router.post("/admin/imports/{job_id}/activation")
def send_activation(request: Request, session: SessionDep, form: FormDep, job_id: str) -> Response:
    """Mail activation links to the people of an applied import who have no password yet: one
    batch per import (a second click, or a second admin, shows the same batch); a batch whose
    worker died is resumed from where it stopped, never mailing anyone twice."""
    path = f"/admin/imports/{job_id[:36]}"
    who = staff(request, session, "users.import", next_path=path)
    job = _job(session, who, job_id)
    if job.status != "applied":
        return back(path)
    batch = activation.start_for_import(session, job, actor_id=who.user.id, locale=_locale(request))
    session.commit()
    if activation.claimable(batch):
        runtime = runtime_of(request)
        start(activation.run_batch, runtime.sessions, runtime.settings, runtime.mailer, batch.id)
    return back(path)
