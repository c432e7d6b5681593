"""Sensitive admin actions need a login within the last 5 minutes; the re-login must not cost
the admin their work.

:func:`recent_staff` is :func:`sso.admin.access.staff` with ``recent=True`` for a POST: when
the login is too old, the form's values (not the CSRF token, not the confirmation) are kept in
an encrypted cookie keyed to the admin (:mod:`sso.web.sealed`) and the browser goes to the
sign-in page ("Masuk lagi untuk melanjutkan", username fixed). It comes back to ``back_to``,
the page holding the form, which reads the values with :func:`kept_values` and shows the form
filled in. A destructive action is never replayed: ``back_to`` is its confirmation page, so
the admin confirms again.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.admin.access import Form, Staff, staff
from sso.web import console, sealed
from sso.web.console import LoginRequired
from sso.web.security import CSRF_FIELD

COOKIE = "sso_admin_resume"
LIFETIME = 15 * 60  # long enough to sign in again with a second factor
_NOT_KEPT = frozenset({CSRF_FIELD, "confirm"})


def recent_staff(
    request: Request, session: Session, permission: str, form: Form, *, back_to: str
) -> Staff | Response:
    """The admin (logged in within 5 minutes), or the redirect to sign in again."""
    try:
        return staff(request, session, permission, recent=True, next_path=back_to)
    except LoginRequired as exc:
        current = console.current_login(request, session)
        session.rollback()
        if exc.max_age is None or current is None:
            raise  # not logged in at all (or no second factor): the ordinary way
        response = console.login_redirect(request, exc)
        values = {k: v[0][:1000] for k, v in form.values.items() if k not in _NOT_KEPT and v}
        path = back_to.split("?", 1)[0]
        sealed.put(
            request, response, COOKIE, current.user.id, {"path": path, "values": values}, LIFETIME
        )
        return response


def kept_values(request: Request, who: Staff) -> dict[str, str]:
    """The values kept for this page by :func:`recent_staff` (empty when there are none)."""
    kept = sealed.get(request, COOKIE, who.user.id)
    if not kept or kept.get("path") != request.url.path:
        return {}
    values = kept.get("values")
    if not isinstance(values, dict):
        return {}
    return {str(k): str(v) for k, v in values.items()}


def forget(request: Request, response: Response) -> Response:
    """Drop kept values once the action they were for is done."""
    sealed.drop(request, response, COOKIE)
    return response
