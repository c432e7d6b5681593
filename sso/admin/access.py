"""Who may do what in the admin UI, checked on the server for every page and every action.

Roles are global roles (``sso.storage.roles``), held directly or through one's agency (the
rules themselves live in :mod:`sso.admin.services.authority`, shared with the Admin API):

- ``admin``: everything.
- ``opd-admin``: people of their own agency and the agencies below it (delegated
  administration): find, create, edit, disable, unlock, reset, import. Nothing else.
- ``helpdesk``: find people, unlock, send a reset link, reset MFA. No edits, no role changes.
- ``auditor``: the dashboard and the audit log, read-only.

Nobody but an admin acts on a holder of an admin role (a helpdesk account resetting an admin's
MFA would be a way up). Every refusal is a 403 page *and* an ``admin.access_denied`` event.
Admin pages need a login with a second factor (``Settings.admin_require_mfa``); sensitive
actions need a login within the last 5 minutes (:func:`staff` with ``recent=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from sso.admin.services import authority
from sso.admin.services.authority import (
    ADMIN,
    ADMIN_ROLES,
    AUDITOR,
    HELPDESK,
    OPD_ADMIN,
    PERMISSIONS,
    Authority,
    Forbidden,
    admin_roles_of,
)
from sso.core.errors import DomainError
from sso.core.events import Event
from sso.db.models import User
from sso.storage import audit
from sso.web import console, navigation
from sso.web.console import ACR_MFA, CurrentLogin
from sso.web.deps import runtime_of
from sso.web.security import csrf

MAX_FIELD = 4000
MAX_UPLOAD = 20 * 1024 * 1024


class AdminForbidden(DomainError):
    status_code = 403


@dataclass(frozen=True)
class Staff:
    """The person using the admin UI, their admin roles and the agencies they may manage."""

    login: CurrentLogin
    roles: frozenset[str]
    scope: frozenset[int] | None  # None: every agency (and people without one)

    @property
    def user(self) -> User:
        return self.login.user

    @property
    def authority(self) -> Authority:
        return Authority(self.roles, self.scope)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def can(self, permission: str) -> bool:
        return bool(self.roles & PERMISSIONS[permission])


def deny(session: Session, who: User | None, reason: str, **details: Any) -> AdminForbidden:
    """Record the refusal (committed at once: the request fails after this) and return the
    error to raise."""
    session.rollback()
    audit.record(
        session,
        Event.ADMIN_ACCESS_DENIED,
        outcome="failure",
        actor_id=who.id if who else None,
        reason=reason,
        **details,
    )
    session.commit()
    return AdminForbidden("admin.forbidden", detail=reason)


class AdminNoAccess(AdminForbidden):
    """The person holds no admin role at all: a page saying so, with the way back to their
    own account (``title`` and ``link`` are read by the error page)."""

    title = "admin.no_access.title"
    link = ("/account", "admin.no_access.back")


def no_access(session: Session, who: User, path: str) -> AdminNoAccess:
    deny(session, who, "no_admin_role", path=path)
    return AdminNoAccess("admin.no_access.message", detail="no_admin_role")


def staff(
    request: Request,
    session: Session,
    permission: str,
    *,
    recent: bool = False,
    next_path: str | None = None,
) -> Staff:
    """The logged-in admin allowed ``permission``, or a login redirect, or a 403."""
    settings = runtime_of(request).settings
    acr = ACR_MFA if settings.admin_require_mfa else None
    # Who it is first (any login), then whether they hold an admin role, and only then the
    # second factor and freshness an admin needs: someone without a role gets the "no
    # access" page at once, never a detour through enrolling an authenticator app.
    login = console.require_login(request, session, next_path=next_path)
    roles = admin_roles_of(session, login.user)
    # A refusal below is a page of the signed-in person: it keeps their header (and sign-out).
    request.state.nav = navigation.for_roles(request, login.user, roles, current="admin")
    if not roles:
        raise no_access(session, login.user, request.url.path)
    if recent:
        login = console.require_recent_login(request, session, next_path=next_path, acr=acr)
    elif acr is not None:
        login = console.require_login(request, session, next_path=next_path, acr=acr)
    if not roles & PERMISSIONS[permission]:
        raise deny(
            session, login.user, "not_permitted", permission=permission, path=request.url.path
        )
    # An opd-admin's reach is their agency's subtree, unless another role of theirs allows
    # this permission everywhere (helpdesk support actions).
    return Staff(login, roles, authority.reach(session, roles, permission, login.user.agency_id))


def refused(session: Session, who: Staff, exc: Forbidden) -> AdminForbidden:
    """The console's answer to a refusal of the shared rules (recorded like any other)."""
    return deny(session, who.user, exc.reason, **exc.details)


def check_person(session: Session, who: Staff, target: User, permission: str) -> None:
    """Refuse acting on ``target`` outside ``who``'s agencies, or on an admin by a non-admin
    (the rules of :func:`sso.admin.services.authority.check_person`)."""
    try:
        authority.check_person(session, who.authority, target, permission)
    except Forbidden as exc:
        raise refused(session, who, exc) from None


def check_agency(session: Session, who: Staff, agency_id: int | None, permission: str) -> None:
    try:
        authority.check_agency(who.authority, agency_id, permission)
    except Forbidden as exc:
        raise refused(session, who, exc) from None


# ---------------------------------------------------------------------------- forms


@dataclass(frozen=True)
class Form:
    """A CSRF-checked form: text fields (cut to a sane length) and uploaded files."""

    values: dict[str, list[str]]
    files: dict[str, tuple[str, bytes]]

    def get(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[0].strip() if found else default

    def all(self, name: str) -> list[str]:
        return [v.strip() for v in self.values.get(name, []) if v.strip()]

    def flag(self, name: str) -> bool:
        return self.get(name) in ("1", "on", "true", "yes")


async def checked_form(request: Request) -> Form:
    form = await request.form(max_part_size=MAX_UPLOAD)
    csrf.verify(request, form)
    values: dict[str, list[str]] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            files[name] = ((value.filename or "")[:200], await value.read(MAX_UPLOAD + 1))
        else:
            values.setdefault(name, []).append(str(value)[:MAX_FIELD])
    return Form(values, files)


FormDep = Annotated[Form, Depends(checked_form)]


__all__ = [
    "ADMIN",
    "ADMIN_ROLES",
    "AUDITOR",
    "HELPDESK",
    "MAX_FIELD",
    "MAX_UPLOAD",
    "OPD_ADMIN",
    "PERMISSIONS",
    "AdminForbidden",
    "AdminNoAccess",
    "Form",
    "FormDep",
    "Staff",
    "admin_roles_of",
    "check_agency",
    "check_person",
    "checked_form",
    "deny",
    "no_access",
    "refused",
    "runtime_of",
    "staff",
]
