"""SCIM Users are staff (RFC 7643 §4.1 and the enterprise extension §4.3): the JSON a client
sees, and the changes it sends applied through the console's own service functions, so the same
rules (NIP shape, unique username, email and NIP, known agency, optimistic version) hold.

A transfer (mutasi) is a change of ``department`` (the agency code); retirement is
``active: false``, which ends the person's sessions and revokes their tokens at once, exactly as
the console's disable does. Every change is an audit event whose actor is the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_username
from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import NewUser, create_user
from sso.admin.services import people
from sso.admin.services.authority import Authority, check_agency, check_person
from sso.core.errors import Conflict, InvalidInput
from sso.core.events import Event
from sso.db.models import User
from sso.oidc.session_end import end_everything_for_user
from sso.scim.documents import ENTERPRISE, USER_SCHEMA, lookup, meta
from sso.storage import account_data, audit
from sso.storage import agencies as agency_repo
from sso.storage import scim as scim_repo


@dataclass(frozen=True)
class StaffValues:
    """The attributes of a User resource we hold, read from a request body."""

    user_name: str
    external_id: str | None
    display_name: str
    given_name: str | None
    family_name: str | None
    title: str | None
    email: str | None
    phone: str | None
    active: bool
    nip: str | None
    agency_code: str | None


def _string(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("scim.invalid_value", detail=f"{name} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput("scim.invalid_value", detail=f"{name} is longer than {limit}")
    return value or None


def _first_value(items: Any, name: str) -> str | None:
    """The primary (else the last) ``value`` of a multi-valued attribute: we hold one, so we do
    not publish ``primary`` (it could not round-trip) but honour it when a client sends it."""
    if items is None:
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidInput("scim.invalid_value", detail=f"{name} must be a list of objects")
    if not items:
        return None
    chosen = next((i for i in items if lookup(i, "primary") is True), items[-1])
    return _string(lookup(chosen, "value"), f"{name}.value", 254)


def values_from(body: dict[str, Any]) -> StaffValues:
    user_name = _string(lookup(body, "userName"), "userName", 64)
    if not user_name:
        raise InvalidInput("scim.invalid_value", detail="userName is required")
    name = lookup(body, "name") or {}
    if not isinstance(name, dict):
        raise InvalidInput("scim.invalid_value", detail="name must be an object")
    enterprise = lookup(body, ENTERPRISE) or {}
    if not isinstance(enterprise, dict):
        raise InvalidInput("scim.invalid_value", detail="the enterprise extension is an object")
    active = lookup(body, "active")
    if active is not None and not isinstance(active, bool):
        raise InvalidInput("scim.invalid_value", detail="active must be true or false")
    given = _string(lookup(name, "givenName"), "name.givenName", 100)
    family = _string(lookup(name, "familyName"), "name.familyName", 100)
    display = (
        _string(lookup(body, "displayName"), "displayName", 200)
        or " ".join(p for p in (given, family) if p)
        or user_name
    )
    phone = _first_value(lookup(body, "phoneNumbers"), "phoneNumbers")
    if phone and len(phone) > 32:
        raise InvalidInput("scim.invalid_value", detail="phoneNumbers.value is longer than 32")
    department = _string(lookup(enterprise, "department"), "department", 32)
    return StaffValues(
        user_name=user_name,
        external_id=_string(lookup(body, "externalId"), "externalId", 255),
        display_name=display,
        given_name=given,
        family_name=family,
        title=_string(lookup(body, "title"), "title", 200),
        email=_first_value(lookup(body, "emails"), "emails"),
        phone=phone,
        active=True if active is None else active,
        nip=_string(lookup(enterprise, "employeeNumber"), "employeeNumber", 32),
        agency_code=department.upper() if department else None,
    )


class StaffFields(Protocol):
    """What a User resource is rendered from: a :class:`User` row, or the values a create
    has just inserted (:mod:`sso.scim.provision`)."""

    @property
    def id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def version(self) -> int: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def given_name(self) -> str | None: ...
    @property
    def family_name(self) -> str | None: ...
    @property
    def position(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def nip(self) -> str | None: ...


def to_json(user: User, base_url: str) -> dict[str, Any]:
    agency = user.agency
    return render(user, agency.code if agency else None, base_url)


def render(user: StaffFields, agency_code: str | None, base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "id": user.id,
        "userName": user.username,
        "displayName": user.display_name,
        "active": user.status == "active",
        "meta": meta(
            "User", f"{base_url}/Users/{user.id}", user.created_at, user.updated_at, user.version
        ),
    }
    if user.external_id:
        body["externalId"] = user.external_id
    name = {
        k: v for k, v in (("givenName", user.given_name), ("familyName", user.family_name)) if v
    }
    if name:
        body["name"] = name
    if user.position:
        body["title"] = user.position
    if user.email:
        body["emails"] = [{"value": user.email, "type": "work"}]
    if user.phone:
        body["phoneNumbers"] = [{"value": user.phone, "type": "work"}]
    extension = {k: v for k, v in (("employeeNumber", user.nip), ("department", agency_code)) if v}
    if extension:
        body["schemas"].append(ENTERPRISE)
        body[ENTERPRISE] = extension
    return body


def _agency_id(session: Session, code: str | None, who: Authority) -> int | None:
    agency_id = None
    if code is not None:
        agency = agency_repo.get_by_code(session, code)
        if agency is None:
            raise InvalidInput("scim.invalid_value", detail=f"department {code!r} is not an agency")
        agency_id = agency.id
    check_agency(who, agency_id, "users.manage")
    return agency_id


def _external_id(session: Session, value: str | None, user_id: str | None) -> None:
    if value and scim_repo.staff_external_id_taken(session, value, user_id):
        raise Conflict("scim.uniqueness", detail="externalId is already in use")


def create(
    session: Session, hasher: PasswordHasher, values: StaffValues, *, who: Authority
) -> User:
    """A new staff member, as the console's new-staff form makes one (no password: the person
    sets one through an activation or reset link)."""
    _external_id(session, values.external_id, None)
    user = create_user(
        session,
        hasher,
        NewUser(
            username=values.user_name,
            email=values.email,
            kind="staff",
            display_name=values.display_name,
            given_name=values.given_name,
            family_name=values.family_name,
            nip=values.nip,
            agency_code=values.agency_code,
            position=values.title,
            phone=values.phone,
            email_verified=bool(values.email),
            external_id=values.external_id,
        ),
        None,
        actor_id=None,
    )
    # create_user checked that the agency exists; whether this client may place staff there
    # is checked now, in the same transaction (a refusal rolls the insert back).
    check_agency(who, user.agency_id, "users.manage")
    if not values.active:
        people.set_disabled(session, user, True, actor_id=None)
    return user


def replace(session: Session, user: User, values: StaffValues, *, who: Authority) -> None:
    """Make the person what ``values`` says (PUT, and PATCH after its operations). The audit
    events name no person as actor: the caller stamps its client on them."""
    check_person(session, who, user, "users.manage")
    _external_id(session, values.external_id, user.id)
    people.edit(
        session,
        user,
        people.PersonEdit(
            version=user.version,
            display_name=values.display_name,
            email=values.email or "",
            phone=values.phone or "",
            position=values.title or "",
            nip=values.nip or "",
            agency_id=_agency_id(session, values.agency_code, who),
        ),
        actor_id=None,
    )
    changed: list[str] = []
    username = normalize_username(values.user_name)
    if username != user.username_normalized:
        from sso.storage import users as user_repo

        if user_repo.username_taken(session, username):
            raise Conflict("error.username_taken", detail="userName is taken")
        user.username, user.username_normalized = values.user_name, username
        changed.append("username")
    for field in ("given_name", "family_name", "external_id"):
        if getattr(user, field) != getattr(values, field):
            setattr(user, field, getattr(values, field))
            changed.append(field)
    if changed:
        session.flush()
        audit.record(
            session,
            Event.USER_UPDATED,
            actor_id=None,
            target_type="user",
            target_id=user.id,
            fields=changed,
        )
    if values.active != (user.status == "active"):
        people.set_disabled(session, user, not values.active, actor_id=None)


def delete(session: Session, user: User, *, who: Authority) -> None:
    """Remove the staff record (the register says the person never belonged): sessions end and
    grants go with the row; the audit trail stays."""
    check_person(session, who, user, "users.manage")
    end_everything_for_user(session, user.id, reason="deleted")
    user_id = user.id
    session.expunge(user)
    account_data.delete_user(session, user_id)
    audit.record(
        session,
        Event.USER_DELETED,
        actor_id=None,
        target_type="user",
        target_id=user_id,
        kind="staff",
    )


__all__ = [
    "StaffFields",
    "StaffValues",
    "create",
    "delete",
    "render",
    "replace",
    "to_json",
    "values_from",
]
