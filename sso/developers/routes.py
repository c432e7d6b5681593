"""The developer portal at /developers (issue 5).

``GET /developers`` lists the person's apps; ``/developers/apps/new`` registers one (the POST
ends in a 303 to ``/developers/secret``, which shows the secret once: kept for that page in an
encrypted cookie by :mod:`sso.web.handover`, never in a URL or a log, surviving a reload and a
language switch until the person says it is copied); ``/developers/apps/{client_id}``
shows an app with its discovery URL, client_id and examples; ``…/edit``, ``…/secret`` (a new
secret needs a login within the last 5 minutes) and ``…/delete`` change it. Every page needs a
login through the console client and a verified account; every change is CSRF-checked and
goes through :mod:`sso.oauth.developer_apps`, which checks ownership itself: someone else's app
is "not found" whatever the route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from sso.core.errors import NotFound
from sso.developers import examples, forms
from sso.oauth import developer_apps as apps
from sso.oidc import discovery
from sso.storage import admin_lists
from sso.web import handover, navigation
from sso.web.console import CurrentLogin, require_login, require_recent_login
from sso.web.deps import SessionDep, runtime_of
from sso.web.security import csrf
from sso.web.templating import render

router = APIRouter(include_in_schema=False)
BASE = "/developers"
CSS = "developers.css"
SECRET_PAGE = BASE + "/secret"
SECRET_COOKIE = "sso_dev_secret"


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    # The header's menu, built by _developer for the person of this request.
    nav = getattr(request.state, "nav", None)
    return render(request, f"developers/{name}", {"css": CSS, "nav": nav, **context}, status=status)


def _developer(
    request: Request, session: Session, *, next_path: str | None = None, recent: bool = False
) -> CurrentLogin | Response:
    """The logged-in person when they may use the portal, else the page saying why not. A POST
    passes ``next_path`` (the page of its form: where a login that was needed returns to)."""
    check = require_recent_login if recent else require_login
    found = check(request, session, next_path=next_path)
    request.state.nav = navigation.for_person(request, session, found.user, current="developers")
    if not apps.may_use_portal(found.user):
        return _page(request, "unverified.html", {"user": found.user}, status=403)
    return found


def _app_path(client_id: str) -> str:
    return f"{BASE}/apps/{client_id}"


async def _form(request: Request) -> FormData:
    form = await request.form()
    csrf.verify(request, form)
    return form


def _in_session(request: Request, work: Any, *args: Any) -> Response:
    runtime = runtime_of(request)
    with runtime.sessions() as session:
        try:
            response: Response = work(request, session, *args)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return response


# ---------------------------------------------------------------------------- list and create


@router.get(BASE)
def list_apps(request: Request, session: SessionDep) -> Response:
    me = _developer(request, session)
    if isinstance(me, Response):
        return me
    qp = request.query_params
    q = admin_lists.clean(qp.get("q", ""))
    number_raw = qp.get("page", "1")[:6]
    number = int(number_raw) if number_raw.isdigit() and int(number_raw) > 0 else 1
    found = apps.apps_of(session, me.user, query=q, number=number, size=APPS_PER_PAGE)
    return _page(
        request,
        "apps.html",
        {
            "apps": found.rows,
            "page": found,
            "q": q,
            "query": {"q": q} if q else {},
            "deleted": qp.get("deleted") == "1",
        },
    )


APPS_PER_PAGE = 20


def _form_page(
    request: Request,
    details: apps.AppDetails,
    errors: list[apps.FieldError],
    *,
    client: Any = None,
    status: int = 200,
) -> Response:
    action = f"{_app_path(client.client_id)}/edit" if client else f"{BASE}/apps/new"
    return _page(
        request,
        "app_form.html",
        {
            "action": action,
            "client": client,
            "csrf_token": csrf.token_for(request),
            **forms.context(details, errors),
        },
        status=status,
    )


@router.get(BASE + "/apps/new")
def new_app(request: Request, session: SessionDep) -> Response:
    me = _developer(request, session)
    if isinstance(me, Response):
        return me
    return _form_page(request, apps.AppDetails(name=""), [])


@router.post(BASE + "/apps/new")
async def create_app(request: Request) -> Response:
    form = await _form(request)
    return await run_in_threadpool(_in_session, request, _create, forms.read(form))


def _create(request: Request, session: Session, details: apps.AppDetails) -> Response:
    me = _developer(request, session, next_path=f"{BASE}/apps/new")
    if isinstance(me, Response):
        return me
    try:
        created = apps.create_app(session, runtime_of(request).settings, me.user, details)
    except apps.AppInvalid as exc:
        session.rollback()
        return _form_page(request, details, exc.errors, status=400)
    return _hand_over(request, me, created.client.client_id, created.client_secret or "", new=True)


# ---------------------------------------------------------------------------- one app


@router.get(BASE + "/apps/{client_id}")
def show_app(request: Request, client_id: str, session: SessionDep) -> Response:
    me = _developer(request, session)
    if isinstance(me, Response):
        return me
    client = apps.owned_app(session, client_id, me.user)
    settings = runtime_of(request).settings
    issuer = settings.issuer_url
    return _page(
        request,
        "app.html",
        {
            "client": client,
            "issuer": issuer,
            "discovery_url": issuer + "/.well-known/openid-configuration",
            "examples": examples.by_language(
                examples.examples(client, discovery.metadata(settings))
            ),
            "saved": request.query_params.get("saved") == "1",
            "csrf_token": csrf.token_for(request),
        },
    )


@router.get(BASE + "/apps/{client_id}/edit")
def edit_app(request: Request, client_id: str, session: SessionDep) -> Response:
    me = _developer(request, session)
    if isinstance(me, Response):
        return me
    client = apps.owned_app(session, client_id, me.user)
    return _form_page(request, apps.details_of(client), [], client=client)


@router.post(BASE + "/apps/{client_id}/edit")
async def update_app(request: Request, client_id: str) -> Response:
    form = await _form(request)
    args = (client_id[:64], forms.read(form), forms.version_of(form))
    return await run_in_threadpool(_in_session, request, _update, *args)


def _update(
    request: Request,
    session: Session,
    client_id: str,
    details: apps.AppDetails,
    version: int | None,
) -> Response:
    me = _developer(request, session, next_path=f"{_app_path(client_id)}/edit")
    if isinstance(me, Response):
        return me
    settings = runtime_of(request).settings
    try:
        apps.update_app(session, settings, client_id, me.user, details, version=version)
    except apps.AppInvalid as exc:
        session.rollback()
        client = apps.owned_app(session, client_id, me.user)
        return _form_page(request, details, exc.errors, client=client, status=400)
    return RedirectResponse(f"{_app_path(client_id)}?saved=1", status_code=303)


@router.post(BASE + "/apps/{client_id}/secret")
async def rotate_secret(request: Request, client_id: str) -> Response:
    await _form(request)
    return await run_in_threadpool(_in_session, request, _rotate, client_id[:64])


def _rotate(request: Request, session: Session, client_id: str) -> Response:
    # A new secret is a sensitive change: a login within the last 5 minutes (the person comes
    # back to the app's page and presses the button again).
    me = _developer(request, session, next_path=_app_path(client_id), recent=True)
    if isinstance(me, Response):
        return me
    secret = apps.rotate_secret(session, runtime_of(request).settings, client_id, me.user)
    return _hand_over(request, me, client_id, secret, new=False)


# ---------------------------------------------------------------------------- the secret, once


def _hand_over(
    request: Request, me: CurrentLogin, client_id: str, secret: str, *, new: bool
) -> Response:
    return handover.hand_over(
        request,
        cookie=SECRET_COOKIE,
        user_id=me.user.id,
        page=SECRET_PAGE,
        payload={"client_id": client_id, "secret": secret, "new": new},
    )


@router.get(SECRET_PAGE)
def secret_page(request: Request, session: SessionDep) -> Response:
    me = _developer(request, session)
    if isinstance(me, Response):
        return me
    kept = handover.kept(request, cookie=SECRET_COOKIE, user_id=me.user.id)
    client = None
    if isinstance(kept.get("client_id"), str):
        try:
            client = apps.owned_app(session, kept["client_id"], me.user)
        except NotFound:  # deleted since: nothing to show
            client = None
    return handover.no_store(
        _page(
            request,
            "secret.html",
            {
                "client": client,
                "secret": str(kept.get("secret") or "") if client else "",
                "new": kept.get("new") is True,
                "minutes": handover.LIFETIME // 60,
                "csrf_token": csrf.token_for(request),
            },
        )
    )


@router.post(SECRET_PAGE)
async def secret_copied(request: Request) -> Response:
    await _form(request)
    return await run_in_threadpool(_in_session, request, _copied)


def _copied(request: Request, session: Session) -> Response:
    me = _developer(request, session, next_path=SECRET_PAGE)
    if isinstance(me, Response):
        return me
    kept = handover.kept(request, cookie=SECRET_COOKIE, user_id=me.user.id)
    client_id = kept.get("client_id")
    # Only ever one of the portal's own paths (an app id is [A-Za-z0-9_-]).
    target = (
        _app_path(client_id)
        if isinstance(client_id, str) and client_id.replace("-", "").replace("_", "").isalnum()
        else BASE
    )
    return handover.forget(request, RedirectResponse(target, status_code=303), cookie=SECRET_COOKIE)


@router.get(BASE + "/apps/{client_id}/delete")
def confirm_delete(request: Request, client_id: str, session: SessionDep) -> Response:
    me = _developer(request, session)
    if isinstance(me, Response):
        return me
    client = apps.owned_app(session, client_id, me.user)
    return _page(
        request,
        "delete.html",
        {
            "client": client,
            "csrf_token": csrf.token_for(request),
        },
    )


@router.post(BASE + "/apps/{client_id}/delete")
async def delete_app(request: Request, client_id: str) -> Response:
    await _form(request)
    return await run_in_threadpool(_in_session, request, _delete, client_id[:64])


def _delete(request: Request, session: Session, client_id: str) -> Response:
    me = _developer(request, session, next_path=f"{_app_path(client_id)}/delete")
    if isinstance(me, Response):
        return me
    apps.delete_app(session, client_id, me.user)
    return RedirectResponse(f"{BASE}?deleted=1", status_code=303)
