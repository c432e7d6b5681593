"""Short-lived, encrypted cookies of the consoles, each keyed to one person.

Two things must outlive a redirect without ever appearing in a URL or a log line:

- the values of a form whose POST needed a fresh login (:mod:`sso.admin.reauth`): the admin
  comes back to the same form, filled in, and confirms again (nothing is replayed);
- a secret shown once (:mod:`sso.web.handover`, used by the admin console and the developer
  portal): a new or rotated client secret, a new registration token, shown until the person
  says it is copied, or for 10 minutes.

The value is encrypted with the deployment's key-encryption key (Fernet: authenticated, so it
cannot be altered either), carries its expiry and the person's id, and is read back only for
that person. The cookie is HttpOnly, SameSite=Lax and ``__Host-`` over https.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from sso.core.clock import now
from sso.web.deps import runtime_of
from sso.web.security import clear_cookie, cookie_name, read_cookie


def put(
    request: Request,
    response: Response,
    name: str,
    user_id: str,
    payload: dict[str, Any],
    seconds: int,
) -> None:
    runtime = runtime_of(request)
    body = {"u": user_id, "exp": int(now().timestamp()) + seconds, "p": payload}
    response.set_cookie(
        cookie_name(runtime.settings, name),
        runtime.encryptor.encrypt(json.dumps(body)),
        max_age=seconds,
        httponly=True,
        secure=runtime.settings.cookie_secure,
        samesite="lax",
        path="/",
    )


def get(request: Request, name: str, user_id: str) -> dict[str, Any] | None:
    """The payload if the cookie is ours, unexpired and ``user_id``'s; else None."""
    raw = read_cookie(request, name)
    if not raw or len(raw) > 8000:
        return None
    try:
        body = json.loads(runtime_of(request).encryptor.decrypt(raw))
    except ValueError:  # altered, or sealed under a key no longer configured
        return None
    if not isinstance(body, dict) or body.get("u") != user_id:
        return None
    if not isinstance(body.get("exp"), int) or body["exp"] < now().timestamp():
        return None
    payload = body.get("p")
    return payload if isinstance(payload, dict) else None


def drop(request: Request, response: Response, name: str) -> None:
    if read_cookie(request, name) is not None:
        clear_cookie(request, response, name)
