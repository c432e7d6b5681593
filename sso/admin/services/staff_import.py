"""Bulk import of staff from CSV (NIP, name, email, agency code, position).

1. :func:`parse` reads the file (UTF-8, comma or semicolon, a header row naming the columns in
   Indonesian or English); a file that cannot be read is refused as a whole.
2. :func:`validate` checks every row and writes a report into the job: *create* (a new NIP),
   *change* (a known NIP whose name, email, agency or position differ: the fields are listed),
   *unchanged*, or *refuse* with reasons (bad NIP, bad email, unknown agency or one outside the
   uploader's agencies, a NIP or email twice in the file, an email or username owned by someone
   else). It works in chunks of short transactions and stores its progress in the job row, so
   any worker can show it and the database is never locked for long.
3. :func:`apply` writes all the creates and changes in **one** transaction, after validating
   again inside it: if anything differs from the report the admin saw (someone edited a person
   meanwhile), nothing is written and the job fails with that reason. Refused rows are never
   written. Re-running a file that was applied finds every row *unchanged* and writes nothing.

New staff get their NIP as username and no password (an admin sends them a set-password link).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_email, validate_nip
from sso.core import events
from sso.core.clock import now
from sso.core.errors import DomainError, InvalidInput
from sso.db.models import Agency, User
from sso.db.models._common import new_uuid
from sso.storage import audit
from sso.storage import directory as dir_repo
from sso.storage import imports as job_repo

COLUMNS = {
    "nip": "nip", "name": "name", "nama": "name", "email": "email", "surel": "email",
    "agency_code": "agency_code", "agency": "agency_code", "kode_opd": "agency_code",
    "opd": "agency_code", "position": "position", "jabatan": "position",
}
REQUIRED = ("nip", "name", "email", "agency_code", "position")
CHUNK = 500
SessionFactory = Callable[[], Session]


@dataclass(frozen=True)
class Row:
    line: int
    nip: str
    name: str
    email: str
    agency_code: str
    position: str


def parse(content: bytes, max_rows: int) -> list[Row]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("admin.import.not_utf8") from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [COLUMNS.get(h.strip().casefold().replace(" ", "_"), "") for h in next(reader)]
    except StopIteration as exc:
        raise InvalidInput("admin.import.empty") from exc
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput("admin.import.missing_columns", columns=", ".join(missing))
    where = {name: header.index(name) for name in REQUIRED}
    rows: list[Row] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= max_rows:
                raise InvalidInput("admin.import.too_many_rows", max=max_rows)
            cells = {k: (record[i].strip() if i < len(record) else "") for k, i in where.items()}
            rows.append(Row(reader.line_num, **{k: v[:300] for k, v in cells.items()}))
    except csv.Error as exc:
        raise InvalidInput("admin.import.unreadable", line=reader.line_num) from exc
    if not rows:
        raise InvalidInput("admin.import.empty")
    return rows


# ---------------------------------------------------------------------------- checking rows


@dataclass
class _Checked:
    row: Row
    reasons: list[str]
    nip: str = ""
    email: str | None = None  # normalised
    agency: Agency | None = None


def _check_fields(row: Row, agencies: dict[str, Agency], scope: set[int] | None) -> _Checked:
    out = _Checked(row, [])
    try:
        out.nip = validate_nip(row.nip)
    except DomainError as exc:
        out.reasons.append(exc.message)
    if not row.name or len(row.name) > 200:
        out.reasons.append("admin.import.name_required")
    if row.email:
        try:
            out.email = normalize_email(row.email)
        except DomainError as exc:
            out.reasons.append(exc.message)
    agency = agencies.get(row.agency_code.casefold())
    if agency is None:
        out.reasons.append("admin.import.agency_unknown")
    elif scope is not None and agency.id not in scope:
        out.reasons.append("admin.import.agency_outside_scope")
    out.agency = agency
    if len(row.position) > 200:
        out.reasons.append("admin.import.position_too_long")
    return out


def _mark_duplicates(checked: list[_Checked]) -> None:
    seen_nip: dict[str, int] = {}
    seen_email: dict[str, int] = {}
    for c in checked:
        if c.nip:
            if c.nip in seen_nip:
                c.reasons.append("admin.import.nip_twice")
            seen_nip.setdefault(c.nip, c.row.line)
        if c.email:
            if c.email in seen_email:
                c.reasons.append("admin.import.email_twice")
            seen_email.setdefault(c.email, c.row.line)


def _desired(c: _Checked) -> dict[str, Any]:
    name = " ".join(c.row.name.split())
    return {"display_name": name, "email": c.row.email or None, "email_normalized": c.email,
            "agency_id": c.agency.id if c.agency else None, "position": c.row.position or None}


def _classify(session: Session, chunk: list[_Checked], scope: set[int] | None) -> list[dict[str, Any]]:
    by_nip = {u.nip: u for u in dir_repo.users_by(session, User.nip, [c.nip for c in chunk if c.nip])}
    emails = [c.email for c in chunk if c.email]
    by_email = {u.email_normalized: u for u in dir_repo.users_by(session, User.email_normalized, emails)}
    new_names = [c.nip for c in chunk if c.nip and c.nip not in by_nip]
    taken = {u.username_normalized for u in dir_repo.users_by(session, User.username_normalized, new_names)}
    report = []
    for c in chunk:
        entry: dict[str, Any] = {"line": c.row.line, "nip": c.row.nip, "name": c.row.name,
                                 "email": c.row.email, "agency": c.row.agency_code,
                                 "position": c.row.position}
        reasons = list(c.reasons)
        existing = by_nip.get(c.nip) if c.nip else None
        owner = by_email.get(c.email) if c.email else None
        if owner is not None and (existing is None or owner.id != existing.id):
            reasons.append("admin.import.email_taken")
        if existing is None and c.nip and c.nip in taken:
            reasons.append("admin.import.username_taken")
        if existing is not None and scope is not None and existing.agency_id not in scope:
            reasons.append("admin.import.person_outside_scope")
        if reasons:
            entry.update(action="refuse", reasons=list(dict.fromkeys(reasons)))
        elif existing is None:
            entry.update(action="create")
        else:
            want = _desired(c)
            changed = [k for k, v in want.items() if getattr(existing, k) != v
                       and k != "email_normalized"]
            entry.update(action="change" if changed else "unchanged", changes=changed,
                         user_id=existing.id, version=existing.version)
        report.append(entry)
    return report


def check_all(
    rows: list[Row],
    agencies: list[Agency],
    scope: set[int] | None,
    chunks: Callable[[], Any],
    progress: Callable[[int], None] = lambda n: None,
) -> list[dict[str, Any]]:
    """The report of every row. ``chunks()`` is a context manager giving a session for one
    chunk's lookups (a short transaction each, or the same one when applying)."""
    by_code = {a.code.casefold(): a for a in agencies}
    checked = [_check_fields(r, by_code, scope) for r in rows]
    _mark_duplicates(checked)
    report: list[dict[str, Any]] = []
    for i in range(0, len(checked), CHUNK):
        with chunks() as session:
            report.extend(_classify(session, checked[i : i + CHUNK], scope))
        progress(min(i + CHUNK, len(checked)))
    return report


def summary(report: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"create": 0, "change": 0, "unchanged": 0, "refuse": 0}
    for entry in report:
        counts[entry["action"]] += 1
    return counts


# ---------------------------------------------------------------------------- the job


def _scope(job_scope: list[int] | None) -> set[int] | None:
    return None if job_scope is None else set(job_scope)


def validate(sessions: SessionFactory, job_id: str, max_rows: int) -> None:
    """Run the validation of a ``validating`` job (in a worker thread); never raises."""

    @contextmanager
    def short() -> Iterator[Session]:
        with sessions() as s:
            yield s
            s.rollback()

    def progress(n: int) -> None:
        with sessions() as s:
            job_repo.set_progress(s, job_id, n)
            s.commit()

    with sessions() as s:
        job = job_repo.get(s, job_id)
        assert job is not None
        content, scope, actor = job.content, _scope(job.scope_agency_ids), job.created_by_id
        agencies = list(dir_repo.all_agencies(s))
        s.expunge_all()
        s.rollback()
    try:
        rows = parse(content.encode(), max_rows)
        with sessions() as s:
            job_repo.set_progress(s, job_id, 0, total=len(rows))
            s.commit()
        report = check_all(rows, agencies, scope, short, progress)
    except DomainError as exc:
        _fail(sessions, job_id, actor, exc.message)
        return
    except Exception as exc:  # noqa: BLE001 (the job must end in a state, never hang)
        _fail(sessions, job_id, actor, "admin.import.crashed", detail=type(exc).__name__)
        return
    counts = summary(report)
    with sessions() as s:
        job_repo.set_progress(s, job_id, len(rows), status="validated",
                              report={"rows": report, "counts": counts})
        audit.record(s, events.IMPORT_VALIDATED, actor_id=actor, target_type="import",
                     target_id=job_id, counts=counts)
        s.commit()


def _fail(sessions: SessionFactory, job_id: str, actor: str | None, message: str,
          **details: Any) -> None:
    with sessions() as s:
        job = job_repo.get(s, job_id)
        if job is not None:
            job.status, job.error = "failed", message
        audit.record(s, events.IMPORT_FAILED, outcome="failure", actor_id=actor,
                     target_type="import", target_id=job_id, reason=message, **details)
        s.commit()


def _plan(report: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["line"], e["action"], tuple(e.get("changes", ())), e.get("version"))
            for e in report if e["action"] in ("create", "change")]


def apply(sessions: SessionFactory, job_id: str, max_rows: int) -> None:
    """Write the job's creates and changes all at once, or nothing (in a worker thread)."""
    with sessions() as s:
        job = job_repo.get(s, job_id)
        assert job is not None
        content, scope, actor = job.content, _scope(job.scope_agency_ids), job.created_by_id
        seen = job.report.get("rows", [])
        s.rollback()
    try:
        with sessions() as s:
            rows = parse(content.encode(), max_rows)
            agencies = list(dir_repo.all_agencies(s))

            @contextmanager
            def same() -> Iterator[Session]:
                yield s

            report = check_all(rows, agencies, scope, same)
            if _plan(report) != _plan(seen):
                s.rollback()
                _fail(sessions, job_id, actor, "admin.import.changed_meanwhile")
                return
            counts = _write(s, report, actor, job_id)
            job_repo.set_progress(s, job_id, len(rows), status="applied", applied_at=now(),
                                  report={"rows": report, "counts": summary(report),
                                          "applied": counts})
            audit.record(s, events.IMPORT_APPLIED, actor_id=actor, target_type="import",
                         target_id=job_id, created=counts["created"], changed=counts["changed"])
            s.commit()
    except DomainError as exc:
        _fail(sessions, job_id, actor, exc.message)
    except Exception as exc:  # noqa: BLE001
        _fail(sessions, job_id, actor, "admin.import.crashed", detail=type(exc).__name__)


class _Stale(DomainError):
    pass


def _write(s: Session, report: list[dict[str, Any]], actor: str | None, job_id: str) -> dict[str, int]:
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
            new_rows.append({
                "id": uid, "kind": "staff", "username": nip, "username_normalized": nip,
                "email": e["email"] or None, "email_normalized": email_norm,
                "email_verified": bool(e["email"]), "phone": None, "phone_verified": False,
                "display_name": name, "display_name_search": name.casefold(),
                "given_name": None, "family_name": None, "locale": "id", "status": "active",
                "nip": nip, "agency_id": agency_id, "position": e["position"] or None,
                "nik_encrypted": None, "nik_hash": None, "created_at": t, "updated_at": t,
                "version": 1,
            })
            audit_rows.append({"event": events.USER_CREATED, "actor_id": actor,
                               "target_type": "user", "target_id": uid,
                               "details": {"kind": "staff", "import": job_id}})
        elif e["action"] == "change":
            values = {"display_name": name, "display_name_search": name.casefold(),
                      "email": e["email"] or None, "email_normalized": email_norm,
                      "agency_id": agency_id, "position": e["position"] or None}
            if not job_repo.update_user(s, e["user_id"], e["version"], values):
                raise _Stale("admin.import.changed_meanwhile")
            changed += 1
            audit_rows.append({"event": events.USER_UPDATED, "actor_id": actor,
                               "target_type": "user", "target_id": e["user_id"],
                               "details": {"fields": e["changes"], "import": job_id}})
    job_repo.insert_users(s, new_rows)
    job_repo.insert_audit(s, audit_rows, t)
    return {"created": len(new_rows), "changed": changed}
