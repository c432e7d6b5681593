"""The app form of the developer portal: reading a submitted form into
:class:`~sso.oauth.developer_apps.AppDetails`, and the values to show it again."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from sso.oauth.developer_apps import DEVELOPER_SCOPES, KINDS, AppDetails, FieldError

MAX_FIELD = 4000
TEXT_FIELDS = ("name", "description", "kind", "logo_uri", "client_uri", "backchannel_logout_uri")
LIST_FIELDS = ("redirect_uris", "post_logout_redirect_uris")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def read(form: FormData) -> AppDetails:
    values = {name: str(form.get(name) or "")[:MAX_FIELD].strip() for name in TEXT_FIELDS}
    lists = {name: _lines(str(form.get(name) or "")[:MAX_FIELD]) for name in LIST_FIELDS}
    scopes = [str(s)[:50] for s in form.getlist("scopes")][:20]
    return AppDetails(
        name=values["name"],
        kind=values["kind"] or "web",
        description=values["description"],
        redirect_uris=lists["redirect_uris"],
        post_logout_redirect_uris=lists["post_logout_redirect_uris"],
        scopes=scopes,
        logo_uri=values["logo_uri"] or None,
        client_uri=values["client_uri"] or None,
        backchannel_logout_uri=values["backchannel_logout_uri"] or None,
    )


def version_of(form: FormData) -> int | None:
    raw = str(form.get("version") or "")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def context(details: AppDetails, errors: list[FieldError]) -> dict[str, Any]:
    """What ``developers/app_form.html`` needs besides the action and CSRF token."""
    by_field: dict[str, FieldError] = {}
    for error in errors:
        by_field.setdefault(error.field, error)
    return {
        "values": {
            "name": details.name,
            "kind": details.kind,
            "description": details.description,
            "redirect_uris": "\n".join(details.redirect_uris),
            "post_logout_redirect_uris": "\n".join(details.post_logout_redirect_uris),
            "scopes": set(details.scopes),
            "logo_uri": details.logo_uri or "",
            "client_uri": details.client_uri or "",
            "backchannel_logout_uri": details.backchannel_logout_uri or "",
        },
        "errors": by_field,
        "error_list": errors,
        "kinds": KINDS,
        "scopes": [s for s in DEVELOPER_SCOPES if s != "openid"],
    }
