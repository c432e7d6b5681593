"""Agencies (OPD): create, rename, move within the tree (never under itself or one of its
own sub-agencies), and merge one into another.

A merge moves the source's staff to the target, hands its role assignments to the target
(dropping one the target already has), hangs its sub-agencies under the target, and deletes
the source; one ``agency.merged`` event records all of it. Only an empty agency (no staff, no
sub-agencies) can be deleted; its role assignments go with it."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from sso.core.errors import Conflict, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import Agency
from sso.storage import agencies as agency_repo
from sso.storage import audit
from sso.storage import clients as client_repo
from sso.storage import directory as dir_repo

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")


def get(session: Session, agency_id: int) -> Agency:
    agency = agency_repo.get(session, agency_id)
    if agency is None:
        raise NotFound("error.agency_unknown")
    return agency


def _check_version(agency: Agency, version: int) -> None:
    if agency.version != version:
        raise Conflict("admin.conflict")


def _name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise InvalidInput("admin.error.name_required")
    return name


def create(
    session: Session, code: str, name: str, parent_id: int | None, *, actor_id: str | None
) -> Agency:
    code = code.strip().upper()
    if not _CODE.fullmatch(code):
        raise InvalidInput("admin.agency.code_invalid")
    if agency_repo.get_by_code(session, code) is not None:
        raise Conflict("admin.agency.code_taken")
    if parent_id is not None:
        get(session, parent_id)
    agency = agency_repo.add(session, Agency(code=code, name=_name(name), parent_id=parent_id))
    audit.record(
        session,
        Event.AGENCY_CREATED,
        actor_id=actor_id,
        target_type="agency",
        target_id=str(agency.id),
        code=code,
        parent_id=parent_id,
    )
    return agency


def rename(
    session: Session, agency_id: int, name: str, version: int, *, actor_id: str | None
) -> Agency:
    agency = get(session, agency_id)
    _check_version(agency, version)
    old, agency.name = agency.name, _name(name)
    session.flush()
    audit.record(
        session,
        Event.AGENCY_RENAMED,
        actor_id=actor_id,
        target_type="agency",
        target_id=str(agency.id),
        old=old,
        new=agency.name,
    )
    return agency


def move(
    session: Session, agency_id: int, parent_id: int | None, version: int, *, actor_id: str | None
) -> Agency:
    agency = get(session, agency_id)
    _check_version(agency, version)
    if parent_id is not None:
        get(session, parent_id)
        if parent_id in dir_repo.subtree_ids(dir_repo.all_agencies(session), agency.id):
            raise InvalidInput("admin.agency.cycle")
    old, agency.parent_id = agency.parent_id, parent_id
    session.flush()
    audit.record(
        session,
        Event.AGENCY_MOVED,
        actor_id=actor_id,
        target_type="agency",
        target_id=str(agency.id),
        old_parent_id=old,
        parent_id=parent_id,
    )
    return agency


def merge(
    session: Session, source_id: int, target_id: int, *, actor_id: str | None
) -> dict[str, int]:
    if source_id == target_id:
        raise InvalidInput("admin.agency.merge_self")
    source, target = get(session, source_id), get(session, target_id)
    if target.id in dir_repo.subtree_ids(dir_repo.all_agencies(session), source.id):
        # The target is below the source: hang it where the source was first.
        target.parent_id = source.parent_id
        session.flush()
    staff = dir_repo.move_staff(session, source.id, target.id)
    for client in client_repo.limited_to(session, source.id):
        # An Admin API client limited to the source now reaches the merged agency instead
        # (never every agency: its limit must not vanish with the source).
        client_repo.set_admin_agency(session, client, target.id)
    children = dir_repo.reparent_children(session, source.id, target.id)
    held = {a.role_id for a in dir_repo.agency_assignments(session, target.id)}
    roles = 0
    for assignment in dir_repo.agency_assignments(session, source.id):
        if assignment.role_id in held:
            session.delete(assignment)
        else:
            assignment.agency_id = target.id
            roles += 1
    session.flush()
    session.expire_all()
    code = source.code
    session.delete(get(session, source_id))
    session.flush()
    audit.record(
        session,
        Event.AGENCY_MERGED,
        actor_id=actor_id,
        target_type="agency",
        target_id=str(target_id),
        source_id=source_id,
        source_code=code,
        staff_moved=staff,
        roles_moved=roles,
        children_moved=children,
    )
    return {"staff": staff, "roles": roles, "children": children}


def delete(session: Session, agency_id: int, version: int, *, actor_id: str | None) -> None:
    agency = get(session, agency_id)
    _check_version(agency, version)
    staff = dir_repo.staff_counts(session).get(agency.id, 0)
    subs = sum(1 for a in dir_repo.all_agencies(session) if a.parent_id == agency.id)
    if staff or subs:
        raise Conflict("admin.agency.not_empty", staff=staff, subs=subs)
    if client_repo.limited_to(session, agency.id):
        # Deleting it would leave its Admin API clients limited to nothing, or (were the limit
        # dropped) to everything: change or remove those clients first.
        raise Conflict("admin.agency.has_api_clients")
    roles = 0
    for assignment in dir_repo.agency_assignments(session, agency.id):
        session.delete(assignment)
        roles += 1
    code = agency.code
    session.delete(agency)
    session.flush()
    audit.record(
        session,
        Event.AGENCY_DELETED,
        actor_id=actor_id,
        target_type="agency",
        target_id=str(agency_id),
        code=code,
        roles_dropped=roles,
    )
