"""The account console's linked identities (``/account/identities``): the upstream identities
linked to the person, linking another (a round trip to the upstream while logged in) and
unlinking one after a confirmation (never the last way to log in)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from sso.core.crypto import random_token
from sso.core.errors import Conflict, InvalidInput
from sso.federation import flow, linking
from sso.federation.metadata import UpstreamUnavailable
from sso.storage import upstreams as repo
from sso.web import security
from sso.web.account_ui import done, page, read_form
from sso.web.console import require_login
from sso.web.deps import runtime_of
from sso.web.responses import browser_cookie, set_browser_cookie
from sso.web.routes.upstreams import failure_page

router = APIRouter(include_in_schema=False)
PATH = "/account/identities"


def _linkable(db: Any, user: Any) -> list[Any]:
    linked = {up.id for _, up in repo.identities_of_user(db, user.id)}
    kinds = ("citizen", "all") if user.kind == "citizen" else ("staff", "all")
    return [
        u
        for u in repo.list_all(db, enabled_only=True)
        if u.id not in linked and u.accounts in kinds
    ]


@router.get(PATH)
def identities_page(request: Request) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db)
        rows = repo.identities_of_user(db, who.user.id)
        response = page(
            request,
            db,
            who,
            "identities.html",
            "identities",
            {
                "identities": rows,
                "linkable": _linkable(db, who.user),
                "confirm": None,
            },
        )
        confirm_id = request.query_params.get("unlink")
        if confirm_id:
            found = [(i, u) for i, u in rows if i.id == confirm_id]
            if found:
                response = page(
                    request,
                    db,
                    who,
                    "identities.html",
                    "identities",
                    {
                        "identities": rows,
                        "linkable": [],
                        "confirm": found[0],
                    },
                )
        db.commit()
        return response


@router.get(PATH + "/link/{slug}")
def link(request: Request, slug: str) -> Response:
    """Start linking: a GET (a form's redirect to another origin would break the page's CSP
    form-action), so it carries the CSRF token in the query and is checked as a form is."""
    security.csrf.verify(request, request.query_params.get("csrf_token") or "")
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db, next_path=PATH)
        upstream = repo.get_by_slug(db, slug)
        back = (PATH, "upstream.back_to_account")
        if upstream is None or upstream not in _linkable(db, who.user):
            return failure_page(request, "upstream.error.unknown", back, status=404)
        browser = browser_cookie(request) or random_token(nbytes=24)
        try:
            url = flow.start(
                db,
                runtime.settings,
                runtime.encryptor,
                runtime.upstream_metadata,
                upstream,
                browser,
                purpose="link",
                user_id=who.user.id,
            )
        except UpstreamUnavailable:
            db.rollback()
            linking.refused(db, None, "unavailable", slug=slug, user=who.user)
            db.commit()
            return failure_page(
                request,
                "upstream.error.unavailable",
                back,
                status=502,
                params={"name": upstream.name},
            )
        db.commit()
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_browser_cookie(response, runtime.settings, browser)
    return response


@router.post(PATH + "/unlink")
async def unlink(request: Request) -> Response:
    fields = await read_form(request, ("identity_id",))
    return await run_in_threadpool(_unlink, request, fields["identity_id"])


def _unlink(request: Request, identity_id: str) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as db:
        who = require_login(request, db, next_path=PATH)
        try:
            linking.unlink(db, who.user, identity_id)
        except (Conflict, InvalidInput) as exc:
            db.rollback()
            rows = repo.identities_of_user(db, who.user.id)
            return page(
                request,
                db,
                who,
                "identities.html",
                "identities",
                {
                    "identities": rows,
                    "linkable": _linkable(db, who.user),
                    "confirm": None,
                    "error": exc.message,
                },
                status=409 if isinstance(exc, Conflict) else 400,
            )
        db.commit()
    return done(PATH, "unlinked")
