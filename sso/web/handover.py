"""A secret shown once, on a page of its own (issue 13).

The POST that makes a secret (a new app, a rotated client secret, a new registration token)
ends in a 303 to a GET page, so a reload repeats nothing. The secret waits for that page in an
encrypted cookie keyed to the person (:mod:`sso.web.sealed`): never in a URL, never in a log
line. The page survives a reload and a language switch, is never cached (``no-store``), and the
secret is gone when the person confirms "I have copied it", or after :data:`LIFETIME`.

The admin console (:mod:`sso.admin.handover`) and the developer portal
(:mod:`sso.developers.routes`) each keep their own cookie and page; this module is the part they
share.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from sso.web import sealed

LIFETIME = 10 * 60  # seconds: long enough to copy into a vault, short enough to be gone soon


def hand_over(
    request: Request, *, cookie: str, user_id: str, page: str, payload: dict[str, Any]
) -> Response:
    """303 to ``page``, which shows ``payload`` (holding the secret) to ``user_id`` only."""
    response = RedirectResponse(page, status_code=303)
    sealed.put(request, response, cookie, user_id, payload, LIFETIME)
    return response


def kept(request: Request, *, cookie: str, user_id: str) -> dict[str, Any]:
    """What :func:`hand_over` kept for ``user_id``; empty when copied, expired or not theirs."""
    return sealed.get(request, cookie, user_id) or {}


def no_store(response: Response) -> Response:
    """A page showing a secret is never cached (a back button after sign-out shows nothing)."""
    response.headers["Cache-Control"] = "no-store"
    return response


def forget(request: Request, response: Response, *, cookie: str) -> Response:
    """The person has copied it: the secret is gone from their browser."""
    sealed.drop(request, response, cookie)
    return response
