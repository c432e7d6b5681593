"""The navigation of pages for a logged-in person (``{% block nav %}`` in ``base.html``).

A page passes ``nav=navigation.for_person(request, session, user, current="account")`` in its
context; ``base.html`` then shows links to the account console, the developer portal (accounts
with a verified email) and the admin console (people holding an admin role), and a logout
button. The button is a CSRF-protected POST to ``/logout/confirm`` (the confirmation form of
RP-Initiated Logout with ``confirm=yes``), so it ends the session in one click and no other
site can log the person out.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from sso.db.models import User
from sso.storage import roles as role_repo
from sso.web import security

ADMIN_ROLES = frozenset({"admin"})
LOGOUT_ACTION = "/logout/confirm"


@dataclass(frozen=True)
class Nav:
    name: str
    current: str
    show_developers: bool
    show_admin: bool
    csrf_token: str
    logout_action: str = LOGOUT_ACTION


def is_admin(session: Session, user: User) -> bool:
    roles = role_repo.role_names_for(session, user.id, user.agency_id, None)
    return bool(ADMIN_ROLES.intersection(roles))


def for_person(request: Request, session: Session, user: User, *, current: str = "") -> Nav:
    """``current`` is ``account``, ``developers`` or ``admin`` (marks the link of this area)."""
    return Nav(
        name=user.display_name or user.username,
        current=current,
        show_developers=user.email_verified,
        show_admin=is_admin(session, user),
        csrf_token=security.csrf.token_for(request),
    )
