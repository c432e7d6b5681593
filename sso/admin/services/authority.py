"""Who may do what to whom in the administration of the provider: one rule set for the HTML
console (a person with admin roles, :mod:`sso.admin.access`) and the Admin REST API (a
machine client, :mod:`sso.api`).

An :class:`Authority` is the roles held (``admin``, ``opd-admin``, ``helpdesk``, ``auditor``)
and the agencies they reach (None: all). A person gets theirs from their role assignments; a
machine client of the API is an ``admin``, or an ``opd-admin`` of the agency it is limited to
(``clients.admin_agency_id``), so it sees and changes exactly what such a person could.

The checks raise :class:`Forbidden` with a ``reason`` for the audit event; the console turns
it into its 403 page, the API into a 403 problem, both after recording
``admin.access_denied``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sso.core.errors import DomainError
from sso.db.models import User
from sso.storage import directory as dir_repo
from sso.storage import roles as role_repo

ADMIN, OPD_ADMIN, HELPDESK, AUDITOR = "admin", "opd-admin", "helpdesk", "auditor"
ADMIN_ROLES = (ADMIN, OPD_ADMIN, HELPDESK, AUDITOR)
PERMISSIONS: dict[str, frozenset[str]] = {
    "dashboard.view": frozenset(ADMIN_ROLES),
    "users.view": frozenset({ADMIN, OPD_ADMIN, HELPDESK}),
    "users.manage": frozenset({ADMIN, OPD_ADMIN}),  # create, edit, disable, end sessions
    "users.import": frozenset({ADMIN, OPD_ADMIN}),
    "users.support": frozenset({ADMIN, OPD_ADMIN, HELPDESK}),  # unlock, reset link, reset MFA
    "agencies.view": frozenset({ADMIN, OPD_ADMIN}),
    "agencies.manage": frozenset({ADMIN}),
    "roles.manage": frozenset({ADMIN}),
    "clients.manage": frozenset({ADMIN}),
    "sessions.manage": frozenset({ADMIN}),
    "keys.manage": frozenset({ADMIN}),
    "audit.view": frozenset({ADMIN, AUDITOR}),
    "webhooks.manage": frozenset({ADMIN}),
}


class Forbidden(DomainError):
    """Not allowed; ``reason`` (and ``details``) go to the ``admin.access_denied`` event."""

    status_code = 403

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__("admin.forbidden", detail=reason)
        self.reason = reason
        self.details = details


@dataclass(frozen=True)
class Authority:
    roles: frozenset[str]
    scope: frozenset[int] | None  # agencies reached; None: every agency (and people without)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def can(self, permission: str) -> bool:
        return bool(self.roles & PERMISSIONS[permission])


def admin_roles_of(session: Session, user: User) -> frozenset[str]:
    held = role_repo.role_names_for(session, user.id, user.agency_id, None)
    return frozenset(r for r in held if r in ADMIN_ROLES)


def reach(
    session: Session, roles: Iterable[str], permission: str, agency_id: int | None
) -> frozenset[int] | None:
    """The agencies ``roles`` reach for ``permission``: an opd-admin's is the subtree of
    ``agency_id`` (empty without one), unless another role allows the permission everywhere
    (a helpdesk's support actions)."""
    held = frozenset(roles)
    if held & (PERMISSIONS[permission] - {OPD_ADMIN}):
        return None
    if agency_id is None:
        return frozenset()
    return frozenset(dir_repo.subtree_ids(dir_repo.all_agencies(session), agency_id))


def for_machine(session: Session, permission: str, agency_id: int | None) -> Authority:
    """A machine client of the Admin API: an admin, or an opd-admin of ``agency_id``."""
    if agency_id is None:
        return Authority(frozenset({ADMIN}), None)
    roles = frozenset({OPD_ADMIN})
    return Authority(roles, reach(session, roles, permission, agency_id))


def check_permission(who: Authority, permission: str, **details: Any) -> None:
    if not who.can(permission):
        raise Forbidden("not_permitted", permission=permission, **details)


def check_person(session: Session, who: Authority, target: User, permission: str) -> None:
    """Refuse acting on ``target`` outside ``who``'s agencies (an opd-admin reaches staff of
    their agencies only), or on a holder of the admin role by a non-admin (a helpdesk account
    resetting an admin's second factor would be a way up)."""
    if who.scope is not None and (target.kind != "staff" or target.agency_id not in who.scope):
        raise Forbidden("outside_scope", permission=permission, target_id=target.id)
    if not who.is_admin and ADMIN in admin_roles_of(session, target):
        raise Forbidden("target_is_admin", permission=permission, target_id=target.id)


def check_agency(who: Authority, agency_id: int | None, permission: str) -> None:
    if who.scope is not None and agency_id not in who.scope:
        raise Forbidden("agency_outside_scope", permission=permission, agency_id=agency_id)


__all__ = [
    "ADMIN",
    "ADMIN_ROLES",
    "AUDITOR",
    "HELPDESK",
    "OPD_ADMIN",
    "PERMISSIONS",
    "Authority",
    "Forbidden",
    "admin_roles_of",
    "check_agency",
    "check_permission",
    "check_person",
    "for_machine",
    "reach",
]
