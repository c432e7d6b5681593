"""The checks of a staff import's rows (:mod:`sso.admin.services.staff_import`): each row's
fields, its agency (known, and inside the uploader's agencies), NIPs and emails twice in the
file, then against the database in chunks: *create*, *change* (with the fields that differ),
*unchanged* or *refuse*, each reason a catalogue key and the value it is about."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_email, validate_nip
from sso.admin.services.staff_csv import Row
from sso.core.errors import DomainError
from sso.db.models import Agency, User
from sso.storage import directory as dir_repo

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
class Checked:
    row: Row
    reasons: list[Reason]
    nip: str = ""
    email: str | None = None  # normalised
    agency: Agency | None = None


def _check_fields(row: Row, agencies: dict[str, Agency], scope: set[int] | None) -> Checked:
    out = Checked(row, [])
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


def _mark_duplicates(checked: list[Checked]) -> None:
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


def prepare(rows: list[Row], agencies: Iterable[Agency], scope: set[int] | None) -> list[Checked]:
    """The checks that need no database: fields, agencies, duplicates within the file."""
    by_code = {a.code.casefold(): a for a in agencies}
    checked = [_check_fields(r, by_code, scope) for r in rows]
    _mark_duplicates(checked)
    return checked


def _desired(c: Checked) -> dict[str, Any]:
    name = " ".join(c.row.name.split())
    return {
        "display_name": name,
        "email": c.row.email or None,
        "email_normalized": c.email,
        "agency_id": c.agency.id if c.agency else None,
        "position": c.row.position or None,
    }


def classify(
    session: Session, chunk: list[Checked], scope: set[int] | None
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
