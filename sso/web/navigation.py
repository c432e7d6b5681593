"""The header of every page for a signed-in person (``templates/_header_menu.html``).

One context builder for the three consoles: the account console (``/account/*``, including
``/account/security``), the admin console (``/admin/*``) and the developer portal
(``/developers/*``) each pass ``nav`` in their page context, built here, and ``base.html``
includes the one header template. The header shows the person's name as the label of a menu
(a ``<details>`` element: opens with a click, Enter or Space, works without JavaScript) with
links to the account, its security page, the admin console (only for holders of an admin
role), the developer portal, and a sign-out button.

Sign-out is a CSRF-protected POST to ``/logout/confirm`` (the confirmation form of RP-Initiated
Logout with ``confirm=yes``): the provider's own logout ends the SSO session and tells the
relying parties (back- and front-channel), in one click, and no other site can sign the person
out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from sso.db.models import User
from sso.storage import roles as role_repo
from sso.web import security

# The roles that open the admin console (``sso.admin.access.ADMIN_ROLES``; a test keeps the two
# equal: the admin package imports this one, so this one cannot import it).
ADMIN_ROLES = frozenset({"admin", "opd-admin", "helpdesk", "auditor"})
LOGOUT_ACTION = "/logout/confirm"


@dataclass(frozen=True)
class Link:
    key: str  # ``account``, ``security``, ``admin``, ``developers``
    href: str
    label: str  # catalogue key


ACCOUNT = Link("account", "/account", "menu.account")
SECURITY = Link("security", "/account/security", "menu.security")
ADMIN = Link("admin", "/admin", "menu.admin")
DEVELOPERS = Link("developers", "/developers", "menu.developers")


@dataclass(frozen=True)
class Nav:
    name: str
    username: str
    current: str
    show_admin: bool
    csrf_token: str
    logout_action: str = LOGOUT_ACTION

    @property
    def links(self) -> tuple[Link, ...]:
        """The menu's links in order (the admin console only for a role holder)."""
        if self.show_admin:
            return (ACCOUNT, SECURITY, ADMIN, DEVELOPERS)
        return (ACCOUNT, SECURITY, DEVELOPERS)

    @property
    def initial(self) -> str:
        return (self.name.strip()[:1] or "?").upper()


def is_admin(session: Session, user: User) -> bool:
    roles = role_repo.role_names_for(session, user.id, user.agency_id, None)
    return bool(ADMIN_ROLES.intersection(roles))


def for_roles(request: Request, user: User, roles: Iterable[str], *, current: str = "") -> Nav:
    """The header when the caller already knows the person's roles (the admin console)."""
    return Nav(
        name=user.display_name or user.username,
        username=user.username,
        current=current,
        show_admin=bool(ADMIN_ROLES.intersection(roles)),
        csrf_token=security.csrf.token_for(request),
    )


def for_person(request: Request, session: Session, user: User, *, current: str = "") -> Nav:
    """``current`` is the key of the menu link of this area (``account``, ``security``,
    ``admin`` or ``developers``): that link carries ``aria-current="page"``."""
    roles = role_repo.role_names_for(session, user.id, user.agency_id, None)
    return for_roles(request, user, roles, current=current)
