"""``/admin/clients``: every client by status; review developer registrations (with the owner,
homepage and logo link); mark an app as in development; edit settings (optimistic locking);
rotate the secret (shown once on its own page, fresh login); disable / enable (never the
console's own client). Rotating and disabling first show what will happen."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from sso.admin import confirm, handover, reauth
from sso.admin.access import Form, FormDep, Staff, staff
from sso.admin.services import clients as service
from sso.admin.views import back, page
from sso.core.errors import Conflict, DomainError, NotFound
from sso.db.models import Client
from sso.oauth import app_review
from sso.oauth.clients import GRANT_TYPES, SCOPES, rotate_secret
from sso.oidc.interaction import CONSOLE_CLIENT_ID
from sso.storage import admin_lists, impact
from sso.storage import agencies as agency_repo
from sso.web.deps import SessionDep, runtime_of

router = APIRouter()
PATH = "/admin/clients"
STATUSES = ("pending", "active", "disabled", "rejected")


CLIENTS_PER_PAGE = 25


@router.get(PATH)
def clients_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "clients.manage")
    qp = request.query_params
    status = qp.get("status", "")
    status = status if status in STATUSES else ""
    q = admin_lists.clean(qp.get("q", ""))
    number = _int(qp.get("page", "1")[:6]) or 1
    found = admin_lists.clients(
        session, query=q, status=status or None, number=number, size=CLIENTS_PER_PAGE
    )
    query = {k: v for k, v in (("q", q), ("status", status)) if v}
    return page(
        request,
        "admin/clients.html",
        who,
        {
            "clients": found.rows,
            "page": found,
            "q": q,
            "query": query,
            "status": status,
            "statuses": STATUSES,
        },
    )


def _detail(
    request: Request, session: Session, who: Staff, client: Client, error: DomainError | None = None
) -> Response:
    issuer = runtime_of(request).settings.issuer_url
    context = {
        "client": client,
        "grant_types": GRANT_TYPES,
        "scopes": SCOPES,
        "built_in": client.client_id == CONSOLE_CLIENT_ID,
        "owner": service.owner_of(session, client),
        # issue 13 (a13k): values to copy, and the client's app roles
        "discovery_url": issuer + "/.well-known/openid-configuration",
        "app_roles": admin_lists.app_roles_of_client(session, client.id),
        # issue 16: the agency an Admin API client is limited to
        "admin_agency": agency_repo.get(session, client.admin_agency_id)
        if client.admin_agency_id
        else None,
    }
    if error is not None:
        context.update(error=error.message, error_params=error.params)
    return page(
        request, "admin/client.html", who, context, status=error.status_code if error else 200
    )


@router.get(PATH + "/{client_id}")
def client_page(request: Request, session: SessionDep, client_id: str) -> Response:
    who = staff(request, session, "clients.manage")
    return _detail(request, session, who, service.get(session, client_id[:64]))


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _lines(form: Form, name: str) -> list[str]:
    return [x.strip() for x in form.get(name).splitlines() if x.strip()]


def _edit_of(form: Form) -> service.ClientEdit:
    return service.ClientEdit(
        version=_int(form.get("version")) or -1,
        redirect_uris=_lines(form, "redirect_uris"),
        post_logout_redirect_uris=_lines(form, "post_logout_redirect_uris"),
        scope=" ".join(form.all("scope") + form.get("extra_scope").split()),
        grant_types=form.all("grant_types"),
        access_token_lifetime=_int(form.get("access_token_lifetime")),
        refresh_token_lifetime=_int(form.get("refresh_token_lifetime")),
        trusted=form.flag("trusted"),
        backchannel_logout_uri=form.get("backchannel_logout_uri") or None,
    )


CONFIRMED = frozenset({"disable", "rotate"})


@router.get(PATH + "/{client_id}/{action}/confirm")
def confirm_client_action(
    request: Request, session: SessionDep, client_id: str, action: str
) -> Response:
    who = staff(request, session, "clients.manage")
    client = service.get(session, client_id[:64])
    path = f"{PATH}/{client.client_id}"
    if action not in CONFIRMED:
        raise NotFound("admin.error.unknown_action")
    if action == "disable":
        try:
            service.check_can_disable(client)
        except DomainError as exc:
            return _detail(request, session, who, client, exc)
    locale = confirm.locale_of(request)
    grants, people = impact.live_grants_of_client(session, client.client_id)
    c = confirm.Confirmation(
        title=f"admin.confirm.client.{action}.title",
        title_params={"name": client.name},
        action=f"{path}/{action}",
        cancel=path,
        button=f"admin.confirm.client.{action}.button",
        note="admin.confirm.fresh_login",
    )
    if action == "disable":
        c.lines = [
            confirm.line(locale, "admin.confirm.client.refused", name=client.name),
            confirm.line(locale, "admin.confirm.client.grants", n=grants, people=people),
        ]
    else:
        c.lines = [
            confirm.line(locale, "admin.confirm.client.old_secret", name=client.name),
            confirm.line(locale, "admin.confirm.client.grants_kept", n=grants, people=people),
            confirm.line(locale, "admin.confirm.client.shown_once"),
        ]
    return confirm.show(request, who, c)


@router.post(PATH + "/{client_id}/{action}")
def client_action(
    request: Request, session: SessionDep, form: FormDep, client_id: str, action: str
) -> Response:
    path = f"{PATH}/{client_id[:64]}"
    who = staff(request, session, "clients.manage", next_path=path)
    if action in CONFIRMED:
        if not confirm.is_confirmed(request, who, form, f"{path}/{action}", ()):
            return confirm.ask(f"{path}/{action}/confirm")  # nothing happens without it
        # Handing out a credential or cutting an app off: a fresh login is required.
        fresh = reauth.recent_staff(
            request, session, "clients.manage", form, back_to=f"{path}/{action}/confirm"
        )
        if isinstance(fresh, Response):
            return fresh
        who = fresh
    client = service.get(session, client_id[:64])
    runtime = runtime_of(request)
    actor = who.user.id
    secret = None
    try:
        if action == "edit":
            service.edit(session, runtime.settings, client, _edit_of(form), actor_id=actor)
            done = "saved"
        elif action in ("approve", "reject"):
            service.review(session, client, action == "approve", form.get("note"), actor_id=actor)
            done = "approved" if action == "approve" else "rejected"
        elif action == "development":
            on = form.get("in_development") == "1"
            app_review.set_in_development(session, runtime.settings, client, on, actor_id=actor)
            done = "development_on" if on else "development_off"
        elif action in ("disable", "enable"):
            service.set_disabled(session, client, action == "disable", actor_id=actor)
            done = action + "d"
        elif action == "rotate":
            secret = rotate_secret(session, runtime.secret_key, client.client_id, actor_id=actor)
            done = "rotated"
        else:
            raise DomainError("admin.error.unknown_action")
        session.commit()
    except StaleDataError:
        session.rollback()
        return _detail(
            request, session, who, service.get(session, client_id[:64]), Conflict("admin.conflict")
        )
    except DomainError as exc:
        session.rollback()
        # The form comes back with its error (nothing was saved); a refused development mark
        # names the redirect URIs that block it, which a redirect's error key cannot carry.
        if action in ("edit", "development"):
            return _detail(request, session, who, service.get(session, client_id[:64]), exc)
        return back(path, error=exc.message)
    if secret is not None:  # shown once, on a page of its own (never in a URL)
        return handover.hand_over(
            request, who, kind="client", name=client.name, secret=secret, back_to=path
        )
    return reauth.forget(request, back(path, done))
