"""``/admin/registration-tokens``: initial access tokens for Dynamic Client Registration
(RFC 7591 §3), issued and revoked by admins. A new token is shown once, on its own page
(:mod:`sso.admin.handover`); revoking one first shows what will happen."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sso.admin import confirm, handover, reauth
from sso.admin.access import FormDep, staff
from sso.admin.views import back, page
from sso.core.errors import DomainError, NotFound
from sso.oauth import initial_access
from sso.storage import admin_lists
from sso.storage import registrations as repo
from sso.web.deps import SessionDep, runtime_of

router = APIRouter()
PATH = "/admin/registration-tokens"


TOKENS_PER_PAGE = 25


@router.get(PATH)
def tokens_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "clients.manage")
    qp = request.query_params
    q = admin_lists.clean(qp.get("q", ""))
    state = qp.get("state", "")
    state = state if state in admin_lists.TOKEN_STATES else ""
    number_raw = qp.get("page", "1")[:6]
    number = int(number_raw) if number_raw.isdigit() and int(number_raw) > 0 else 1
    found = admin_lists.registration_tokens(
        session, query=q, state=state or None, number=number, size=TOKENS_PER_PAGE
    )
    rows = [(row, initial_access.is_usable(row)) for row in found.rows]
    query = {k: v for k, v in (("q", q), ("state", state)) if v}
    return page(
        request,
        "admin/tokens.html",
        who,
        {
            "rows": rows,
            "page": found,
            "q": q,
            "state": state,
            "query": query,
            "states": admin_lists.TOKEN_STATES,
        },
    )


@router.post(PATH)
def issue_token(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, "clients.manage", next_path=PATH)
    fresh = reauth.recent_staff(request, session, "clients.manage", form, back_to=PATH)
    if isinstance(fresh, Response):
        return fresh
    who = fresh
    days, uses = form.get("days"), form.get("max_uses")
    try:
        issued = initial_access.issue(
            session,
            runtime_of(request).secret_key,
            actor_id=who.user.id,
            description=form.get("description"),
            expires_in=int(days) * 24 * 3600
            if days.isdigit() and 0 < int(days) <= 366
            else 7 * 24 * 3600,
            max_uses=int(uses) if uses.isdigit() and int(uses) > 0 else None,
            approve_clients=form.flag("approve_clients"),
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        return back(PATH, error=exc.message)
    response = handover.hand_over(
        request,
        who,
        kind="token",
        name=issued.row.description or f"#{issued.row.id}",
        secret=issued.token,
        back_to=PATH,
    )
    return reauth.forget(request, response)


@router.get(PATH + "/{token_id}/revoke/confirm")
def confirm_revoke(request: Request, session: SessionDep, token_id: int) -> Response:
    who = staff(request, session, "clients.manage")
    row = repo.get_initial_access_token(session, token_id)
    if row is None:
        raise NotFound("error.not_found")
    locale = confirm.locale_of(request)
    left = None if row.max_uses is None else max(row.max_uses - row.uses, 0)
    c = confirm.Confirmation(
        title="admin.confirm.token.title",
        title_params={"name": row.description or f"#{row.id}"},
        action=f"{PATH}/{row.id}/revoke",
        cancel=PATH,
        button="admin.confirm.token.button",
        lines=[
            confirm.line(locale, "admin.confirm.token.used", n=row.uses),
            confirm.line(locale, "admin.confirm.token.left", n=left)
            if left is not None
            else confirm.line(locale, "admin.confirm.token.unlimited"),
            confirm.line(locale, "admin.confirm.token.clients_stay"),
        ],
    )
    return confirm.show(request, who, c)


@router.post(PATH + "/{token_id}/revoke")
def revoke_token(request: Request, session: SessionDep, form: FormDep, token_id: int) -> Response:
    who = staff(request, session, "clients.manage", next_path=PATH)
    action = f"{PATH}/{token_id}/revoke"
    if not confirm.is_confirmed(request, who, form, action, ()):
        return confirm.ask(action + "/confirm")  # nothing happens without the confirmation
    try:
        initial_access.revoke(session, token_id, actor_id=who.user.id)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return back(PATH, error=exc.message)
    return back(PATH, "revoked")
