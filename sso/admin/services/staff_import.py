"""Bulk import of staff from CSV (NIP, name, email, agency code, position).

1. :func:`~sso.admin.services.staff_csv.parse_file` reads the file from the temporary file the
   upload was streamed to; a file that cannot be read is refused as a whole, with the reason.
2. :func:`validate` checks every row and writes one :class:`~sso.db.models.ImportRow` per row:
   *create* (a new NIP), *change* (a known NIP whose name, email, agency or position differ:
   the fields are listed), *unchanged*, or *refuse* with reasons that name the refused value
   (bad NIP, bad email, unknown agency or one outside the uploader's agencies, a NIP or email
   twice in the file, an email or username owned by someone else). It works in chunks of short
   transactions and stores its progress in the job row, so any worker can show it and the
   database is never locked for long.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_email, validate_nip
from sso.admin.services.staff_csv import Row, parse_file
from sso.core.clock import now
from sso.core.errors import DomainError
from sso.core.events import Event
from sso.db.models import Agency, User
from sso.db.models._common import new_uuid
from sso.storage import audit
from sso.storage import directory as dir_repo
from sso.storage import imports as job_repo

CHUNK = 500
SessionFactory = Callable[[], Session]


# ---------------------------------------------------------------------------- checking rows


# A reason is a catalogue key and the value it is about (shown as "NIP '1234' harus 18 digit").
Reason = dict[str, str]
_NIP_REASONS = {
    "error.nip_shape": "admin.import.why.nip_shape",
    "error.nip_birth_date": "admin.import.why.nip_birth_date",
    "error.nip_service_start": "admin.import.why.nip_service_start",
    "error.nip_gender": "admin.import.why.nip_gender",
}


def _why(key: str, value: object = "") -> Reason:
    return {"key": f"admin.import.why.{key}", "value": str(value)[:100]}


@dataclass
class _Checked:
    row: Row
    reasons: list[Reason]
    nip: str = ""
    email: str | None = None  # normalised
    agency: Agency | None = None


def _check_fields(row: Row, agencies: dict[str, Agency], scope: set[int] | None) -> _Checked:
    out = _Checked(row, [])
    try:
        out.nip = validate_nip(row.nip)
    except DomainError as exc:
        key = _NIP_REASONS.get(exc.message, "admin.import.why.nip_shape")
        out.reasons.append({"key": key, "value": row.nip[:100]})
    if not row.name or len(row.name) > 200:
        out.reasons.append(
            _why("name_required" if not row.name else "name_too_long", len(row.name))
        )
    if row.email:
        try:
            out.email = normalize_email(row.email)
        except DomainError:
            out.reasons.append(_why("email_invalid", row.email))
    agency = agencies.get(row.agency_code.casefold())
    if agency is None:
        out.reasons.append(_why("agency_unknown", row.agency_code))
    elif scope is not None and agency.id not in scope:
        out.reasons.append(_why("agency_outside_scope", row.agency_code))
    out.agency = agency
    if len(row.position) > 200:
        out.reasons.append(_why("position_too_long", len(row.position)))
    return out


def _mark_duplicates(checked: list[_Checked]) -> None:
    seen_nip: dict[str, int] = {}
    seen_email: dict[str, int] = {}
    for c in checked:
        if c.nip:
            if c.nip in seen_nip:
                c.reasons.append(_why("nip_twice", c.row.nip) | {"line": str(seen_nip[c.nip])})
            seen_nip.setdefault(c.nip, c.row.line)
        if c.email:
            if c.email in seen_email:
                c.reasons.append(
                    _why("email_twice", c.row.email) | {"line": str(seen_email[c.email])}
                )
            seen_email.setdefault(c.email, c.row.line)


def prepare(rows: list[Row], agencies: Iterable[Agency], scope: set[int] | None) -> list[_Checked]:
    """The checks that need no database: fields, agencies, duplicates within the file."""
    by_code = {a.code.casefold(): a for a in agencies}
    checked = [_check_fields(r, by_code, scope) for r in rows]
    _mark_duplicates(checked)
    return checked


def _desired(c: _Checked) -> dict[str, Any]:
    name = " ".join(c.row.name.split())
    return {
        "display_name": name,
        "email": c.row.email or None,
        "email_normalized": c.email,
        "agency_id": c.agency.id if c.agency else None,
        "position": c.row.position or None,
    }


def _classify(
    session: Session, chunk: list[_Checked], scope: set[int] | None
) -> list[dict[str, Any]]:
    by_nip = {
        u.nip: u for u in dir_repo.users_by(session, User.nip, [c.nip for c in chunk if c.nip])
    }
    emails = [c.email for c in chunk if c.email]
    by_email = {
        u.email_normalized: u for u in dir_repo.users_by(session, User.email_normalized, emails)
    }
    new_names = [c.nip for c in chunk if c.nip and c.nip not in by_nip]
    taken = {
        u.username_normalized
        for u in dir_repo.users_by(session, User.username_normalized, new_names)
    }
    report = []
    for c in chunk:
        r = c.row
        entry: dict[str, Any] = {
            "line": r.line,
            "nip": r.nip,
            "nip_key": c.nip or None,
            "name": r.name,
            "email": r.email,
            "agency": r.agency_code,
            "position": r.position,
            "search_text": " ".join((r.nip, r.name, r.email)).casefold(),
            "changes": None,
            "reasons": None,
            "user_id": None,
            "version": None,
        }
        reasons = list(c.reasons)
        existing = by_nip.get(c.nip) if c.nip else None
        owner = by_email.get(c.email) if c.email else None
        if owner is not None and (existing is None or owner.id != existing.id):
            reasons.append(_why("email_taken", r.email))
        if existing is None and c.nip and c.nip in taken:
            reasons.append(_why("username_taken", c.nip))
        if existing is not None and scope is not None and existing.agency_id not in scope:
            reasons.append(_why("person_outside_scope", r.nip))
        if reasons:
            entry.update(action="refuse", reasons=reasons)
        elif existing is None:
            entry.update(action="create")
        else:
            want = _desired(c)
            changed = [
                k for k, v in want.items() if getattr(existing, k) != v and k != "email_normalized"
            ]
            entry.update(
                action="change" if changed else "unchanged",
                changes=changed,
                user_id=existing.id,
                version=existing.version,
            )
        report.append(entry)
    return report


def summary(report: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = {"create": 0, "change": 0, "unchanged": 0, "refuse": 0}
    for entry in report:
        counts[entry["action"]] += 1
    return counts


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
                entries = _classify(s, checked[i : i + CHUNK], scope)
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
                report.extend(_classify(s, checked[i : i + CHUNK], scope))
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
