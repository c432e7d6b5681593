"""``POST /Users`` of an active staff member: the staff register's bulk path (issue 16).

The same rules as the console's new-staff form (:func:`sso.accounts.service.create_user`, which
:func:`sso.scim.staff.create` calls) in the same order, with the same refusals: a staff
member's externalId, then the username, email and NIP shapes, the agency, the uniqueness of
username, email and NIP, then the calling client's agency scope. What differs is the cost: the
lookups are one SELECT and the person one Core INSERT (:mod:`sso.storage.scim`), the
``user.created`` audit row one Core INSERT (:func:`sso.storage.audit.write`, which also queues
the webhook outbox row and feeds the metrics after the commit), and the resource is rendered
from the values inserted, with no read back. Measured in bench/README.md ("SCIM
provisioning"): the ORM's unit of work and its five lookups were most of a create's CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_email, normalize_username, validate_nip
from sso.admin.services.authority import Authority, check_agency
from sso.core.clock import now
from sso.core.errors import Conflict, DomainError, NotFound
from sso.core.events import Event
from sso.db.models._common import new_uuid
from sso.db.models.accounts import search_text_of
from sso.scim.changes import authority
from sso.scim.http import from_domain
from sso.scim.staff import StaffValues, render
from sso.storage import audit
from sso.storage import scim as scim_repo
from sso.web.machine_auth import MachineCaller


@dataclass(frozen=True)
class NewStaff:
    """The person as inserted (the fields :func:`sso.scim.staff.render` reads)."""

    id: str
    username: str
    display_name: str
    created_at: datetime
    updated_at: datetime
    external_id: str | None
    given_name: str | None
    family_name: str | None
    position: str | None
    email: str | None
    phone: str | None
    nip: str | None
    status: str = "active"
    version: int = 1


def create(
    session: Session, values: StaffValues, *, who: Authority, client_id: str, base_url: str
) -> tuple[dict[str, Any], int]:
    """Insert an active staff member and its audit row (not committed); the resource and its
    version. Raises the :class:`DomainError` the ORM path raises for the same body."""
    assert values.active, "a disabled person is created through sso.scim.staff.create"
    # Shapes first, but a refusal is raised where create_user would raise it: after the
    # externalId check (which sso.scim.staff.create makes before calling it).
    refused: DomainError | None = None
    username = email = nip = None
    try:
        username = normalize_username(values.user_name)
        email = normalize_email(values.email) if values.email else None
        nip = validate_nip(values.nip) if values.nip else None
    except DomainError as exc:
        refused = exc
    checks = scim_repo.new_staff_checks(
        session,
        agency_code=values.agency_code,
        external_id=values.external_id or None,
        username=username,
        email=email,
        nip=nip,
    )
    if checks.external_id_taken:
        raise Conflict("scim.uniqueness", detail="externalId is already in use")
    if refused is not None:
        raise refused
    if values.agency_code and checks.agency_id is None:
        raise NotFound("error.agency_unknown", detail=f"unknown agency {values.agency_code!r}")
    if checks.username_taken:
        raise Conflict("error.username_taken", detail=f"username {username!r} is taken")
    if checks.email_taken:
        raise Conflict("error.email_taken", detail="email already registered")
    if checks.nip_taken:
        raise Conflict("error.nip_taken", detail="NIP already registered")
    check_agency(who, checks.agency_id, "users.manage")
    at = now()
    person = NewStaff(
        id=new_uuid(),
        username=values.user_name,
        display_name=values.display_name,
        created_at=at,
        updated_at=at,
        external_id=values.external_id,
        given_name=values.given_name,
        family_name=values.family_name,
        position=values.title,
        email=values.email,
        phone=values.phone,
        nip=nip,
    )
    try:
        scim_repo.insert_user(
            session,
            {
                "id": person.id,
                "kind": "staff",
                "username": person.username,
                "username_normalized": username,
                "email": person.email,
                "email_normalized": email,
                "email_verified": bool(person.email),
                "phone": person.phone,
                "phone_verified": False,
                "display_name": person.display_name,
                "display_name_search": person.display_name.casefold(),
                "search_text": search_text_of(
                    person.display_name, person.username, person.email, nip
                ),
                "given_name": person.given_name,
                "family_name": person.family_name,
                "locale": "id",
                "status": person.status,
                "nip": nip,
                "agency_id": checks.agency_id,
                "position": person.position,
                "created_at": at,
                "updated_at": at,
                "version": person.version,
                "external_id": person.external_id,
            },
        )
    except IntegrityError as exc:
        # A concurrent create took one of the unique values between the check and the insert.
        raise Conflict(
            "scim.uniqueness", detail="userName, email or NIP is already in use"
        ) from exc
    # The client is the actor (the ORM path stamps it on the row as it is added).
    audit.write(
        session,
        audit.event_values(
            Event.USER_CREATED,
            target_type="user",
            target_id=person.id,
            client_id=client_id,
            kind="staff",
            admin=False,
        ),
    )
    agency_code = values.agency_code if checks.agency_id is not None else None
    return render(person, agency_code, base_url), person.version


def commit_create(
    session: Session, caller: MachineCaller, values: StaffValues, *, base_url: str
) -> tuple[dict[str, Any], int]:
    """:func:`create` with the client's authority, committed; a refusal becomes its SCIM
    error. (No ORM object is added here, so :func:`sso.scim.changes.write`'s stamping of
    audit rows and its re-reading of relationships are not needed: the client is named on the
    audit row by :func:`create`.)"""
    try:
        made = create(
            session,
            values,
            who=authority(session, caller),
            client_id=caller.client_id,
            base_url=base_url,
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        raise from_domain(exc) from exc
    return made
