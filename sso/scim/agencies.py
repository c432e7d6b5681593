"""SCIM Groups are agencies (OPD); their ``members`` are the staff working there. Adding a
member transfers that person into the agency (a mutasi, the same edit as the console's); removing
one leaves the person without an agency. Agencies are made, renamed and deleted through the
console's agency services (a code that fits, a non-empty agency refused)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from sso.admin.services import agencies as agency_service
from sso.admin.services import people
from sso.admin.services.authority import (
    Authority,
    check_agency,
    check_permission,
    check_person,
)
from sso.core.errors import InvalidInput
from sso.core.events import Event
from sso.db.models import Agency, User
from sso.scim.documents import GROUP_SCHEMA, lookup, meta
from sso.storage import audit
from sso.storage import scim as scim_repo

_CODE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")  # the console's rule for an agency code


def to_json(agency: Agency, members: Sequence[tuple[str, str]], base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": str(agency.id),
        "displayName": agency.name,
        "meta": meta(
            "Group",
            f"{base_url}/Groups/{agency.id}",
            agency.created_at,
            agency.updated_at,
            agency.version,
        ),
    }
    if members:  # value and $ref only: the tester (rightly) wants back what it wrote
        body["members"] = [{"value": uid, "$ref": f"{base_url}/Users/{uid}"} for uid, _ in members]
    if agency.external_id:
        body["externalId"] = agency.external_id
    return body


def _member_ids(body: dict[str, Any]) -> list[str] | None:
    members = lookup(body, "members")
    if members is None:
        return None
    if not isinstance(members, list):
        raise InvalidInput("scim.invalid_value", detail="members must be a list")
    ids = []
    for member in members:
        value = lookup(member, "value")
        if not isinstance(value, str):
            raise InvalidInput("scim.invalid_value", detail="a member needs a value (a User id)")
        ids.append(value)
    return list(dict.fromkeys(ids))


def _display_name(body: dict[str, Any]) -> str:
    name = lookup(body, "displayName")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("scim.invalid_value", detail="displayName is required")
    return name


def _external_id(body: dict[str, Any]) -> str | None:
    value = lookup(body, "externalId")
    if value is not None and not isinstance(value, str):
        raise InvalidInput("scim.invalid_value", detail="externalId must be a string")
    return value[:255] if value else None


def _code(external_id: str | None) -> str:
    """The agency code: the client's externalId when it is one (a SIMPEG unit code), else a
    fresh one the console can rename."""
    if external_id and _CODE.fullmatch(external_id.upper()):
        return external_id.upper()
    return "SCIM-" + "".join(secrets.choice(_CODE_CHARS) for _ in range(8))


def _set_members(session: Session, agency: Agency, wanted: list[str], *, who: Authority) -> None:
    found = {u.id: u for u in scim_repo.staff_by_ids(session, wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidInput("scim.invalid_value", detail=f"no staff with id {missing[0]!r}")
    current = {uid for uid, _ in scim_repo.members_of(session, [agency.id])[agency.id]}
    for user_id in wanted:
        if user_id not in current:
            _transfer(session, found[user_id], agency.id, who=who)
    leaving = scim_repo.staff_by_ids(session, sorted(current - set(wanted)))
    for user in leaving:
        _transfer(session, user, None, who=who)


def _transfer(session: Session, user: User, agency_id: int | None, *, who: Authority) -> None:
    check_person(session, who, user, "users.manage")
    check_agency(who, agency_id, "users.manage")
    people.edit(
        session,
        user,
        people.PersonEdit(
            version=user.version,
            display_name=user.display_name,
            email=user.email or "",
            phone=user.phone or "",
            position=user.position or "",
            nip=user.nip or "",
            agency_id=agency_id,
        ),
        actor_id=None,
    )


def create(session: Session, body: dict[str, Any], *, who: Authority) -> Agency:
    check_permission(who, "agencies.manage")
    external_id = _external_id(body)
    agency = agency_service.create(
        session, _code(external_id), _display_name(body), None, actor_id=None
    )
    agency.external_id = external_id
    session.flush()
    members = _member_ids(body)
    if members:
        _set_members(session, agency, members, who=who)
    return agency


def replace(session: Session, agency: Agency, body: dict[str, Any], *, who: Authority) -> None:
    name = " ".join(_display_name(body).split())
    if name != agency.name:
        check_permission(who, "agencies.manage")
        agency_service.rename(session, agency.id, name, agency.version, actor_id=None)
    external_id = _external_id(body)
    if external_id != agency.external_id:
        check_permission(who, "agencies.manage")
        agency.external_id = external_id
        session.flush()
        audit.record(
            session,
            Event.AGENCY_RENAMED,
            actor_id=None,
            target_type="agency",
            target_id=str(agency.id),
            external_id=external_id,
        )
    _set_members(session, agency, _member_ids(body) or [], who=who)


def delete(session: Session, agency: Agency, *, who: Authority) -> None:
    check_permission(who, "agencies.manage")
    agency_service.delete(session, agency.id, agency.version, actor_id=None)
