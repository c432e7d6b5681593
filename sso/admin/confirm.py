"""One confirmation step for every destructive admin action (Keycloak's confirm dialogs,
without JavaScript).

The button of a destructive action leads (GET) to a page saying what will happen, with counts
read from the database; its form POSTs to the action with a ``confirm`` field. That field is a
keyed hash of the admin, the action path and the hidden values shown, so the action refuses a
POST that did not come through this page (an old one-click form, a forged or altered request)
and sends the browser to the page instead: nothing happens without the admin having read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from sso.admin.access import Form, Staff
from sso.admin.views import error_of_query, page
from sso.core.crypto import constant_time_equals, keyed_hash
from sso.web.deps import runtime_of
from sso.web.i18n import negotiate_locale
from sso.web.templating import default_locale

FIELD = "confirm"
TYPED_FIELD = "typed_code"
_PURPOSE = "admin.confirm"


@dataclass
class Confirmation:
    """What a confirmation page shows and what its form sends."""

    title: str  # i18n key
    action: str  # the path the form POSTs to (the action itself)
    cancel: str  # where "cancel" leads
    button: str  # i18n key of the button
    title_params: dict[str, Any] = field(default_factory=dict)
    lines: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # i18n key + params
    fields: dict[str, str] = field(default_factory=dict)  # hidden values being confirmed
    items: Sequence[str] = ()  # names listed under the summary (sessions, holders …)
    type_code: str | None = None  # a code the admin must type (merging agencies)
    danger: bool = True
    note: str | None = None  # i18n key of a closing remark


def number(value: int, locale: str) -> str:
    """Thousands grouped the local way: 5.361 in Indonesian, 5,361 in English."""
    text = f"{value:,}"
    return text.replace(",", ".") if locale == "id" else text


def locale_of(request: Request) -> str:
    return negotiate_locale(request, default=default_locale(request))


def line(locale: str, key: str, **params: Any) -> tuple[str, dict[str, Any]]:
    """A summary line; integer parameters are formatted for ``locale``."""
    shown = {
        k: number(v, locale) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in params.items()
    }
    return key, shown


def token(request: Request, who: Staff, action: str, fields: Mapping[str, str]) -> str:
    material = json.dumps([who.user.id, action, sorted(fields.items())], separators=(",", ":"))
    return keyed_hash(runtime_of(request).secret_key, material, _PURPOSE)


def is_confirmed(
    request: Request, who: Staff, form: Form, action: str, names: Sequence[str]
) -> bool:
    """The POST came from the confirmation page of exactly these values."""
    sent = form.get(FIELD)
    expected = token(request, who, action, {n: form.get(n) for n in names})
    return bool(sent) and constant_time_equals(sent, expected)


def ask(path: str, fields: Mapping[str, str] | None = None, error: str | None = None) -> Response:
    """303 to the confirmation page (GET ``path``), e.g. after a POST that skipped it."""
    params = {k: v for k, v in (fields or {}).items() if v}
    if error:
        params["error"] = error
    joiner = "&" if "?" in path else "?"
    target = path + (joiner + urlencode(params) if params else "")
    return RedirectResponse(target, status_code=303)


def show(
    request: Request, who: Staff, c: Confirmation, values: Mapping[str, str] | None = None
) -> Response:
    """The confirmation page. ``values``: what the admin had typed (after a re-login)."""
    response = page(
        request,
        "admin/confirm.html",
        who,
        {
            "c": c,
            "confirm_token": token(request, who, c.action, c.fields),
            "typed": (values or {}).get(TYPED_FIELD, ""),
            # shown beside the form rather than above the page
            "confirm_error": error_of_query(request),
            "error": None,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response
