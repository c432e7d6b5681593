"""``/admin/upstreams``: the upstream identity providers (Google, INApas, any OpenID provider)
people may log in through: searched and paged list, create, edit (the secret replaced only
when a new one is typed; never shown), disable (after a confirmation saying how many linked
identities stop working) and enable. The same service as ``sso upstreams``
(:mod:`sso.federation.registry`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.admin import confirm
from sso.admin.access import Form, FormDep, Staff, staff
from sso.admin.views import back, page
from sso.core.errors import DomainError, NotFound
from sso.db.models import UpstreamProvider
from sso.federation import registry
from sso.storage import upstreams as repo
from sso.storage.admin_lists import clean
from sso.web.deps import SessionDep, runtime_of

router = APIRouter()
PATH = "/admin/upstreams"
PERMISSION: str = "clients.manage"  # (annotated: not an audit event name)
PER_PAGE = 25


@router.get(PATH)
def upstreams_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, PERMISSION)
    q = clean(request.query_params.get("q", ""))
    raw = request.query_params.get("page", "1")[:6]
    found = repo.search(session, query=q, number=int(raw) if raw.isdigit() else 1, size=PER_PAGE)
    return page(
        request,
        "admin/upstreams.html",
        who,
        {
            "upstreams": found.rows,
            "page": found,
            "q": q,
            "query": {"q": q} if q else {},
            "callback": lambda slug: registry.redirect_uri(runtime_of(request).settings, slug),
        },
    )


def _form_page(
    request: Request,
    session: Session,
    who: Staff,
    row: UpstreamProvider | None,
    values: dict[str, Any],
    error: DomainError | None = None,
) -> Response:
    settings = runtime_of(request).settings
    context: dict[str, Any] = {
        "upstream": row,
        "values": values,
        "presets": registry.PRESETS,
        "accounts": registry.ACCOUNTS,
        "staff_matches": registry.STAFF_MATCHES,
        "callback": registry.redirect_uri(settings, row.slug)
        if row
        else registry.redirect_uri(settings, "SLUG"),
        "links": repo.count_links(session, row.id) if row else 0,
    }
    if error is not None:
        context.update(error=error.message, error_params=error.params)
    return page(
        request, "admin/upstream.html", who, context, status=error.status_code if error else 200
    )


def _values(row: UpstreamProvider | None) -> dict[str, Any]:
    if row is None:
        return {"preset": "oidc", "accounts": "citizen", "scope": ""}
    return {
        k: getattr(row, k)
        for k in (
            "slug",
            "name",
            "issuer",
            "client_id",
            "scope",
            "accounts",
            "preset",
            "identity_assurance",
            "staff_match",
            "staff_claim",
        )
    }


def _posted(form: Form) -> dict[str, Any]:
    return {
        k: form.get(k)
        for k in (
            "slug",
            "name",
            "issuer",
            "client_id",
            "scope",
            "accounts",
            "preset",
            "staff_match",
            "staff_claim",
        )
    } | {"identity_assurance": form.flag("identity_assurance")}


@router.get(PATH + "/new")
def new_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, PERMISSION)
    return _form_page(request, session, who, None, _values(None))


@router.post(PATH)
def create(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, PERMISSION, next_path=PATH + "/new")
    runtime = runtime_of(request)
    values = _posted(form)
    preset = values["preset"] or "oidc"
    spec = registry.UpstreamSpec(
        slug=values["slug"],
        name=values["name"],
        issuer=values["issuer"],
        client_id=values["client_id"],
        client_secret=form.get("client_secret"),
        scope=values["scope"] or None,
        accounts=values["accounts"] or "citizen",
        preset=preset,
        # the checkbox, or the preset's meaning when it was left as the preset says
        identity_assurance=values["identity_assurance"]
        or registry.PRESET_ASSURANCE.get(preset, False),
        staff_match=values["staff_match"] or None,
        staff_claim=values["staff_claim"] or None,
    )
    try:
        row = registry.create(
            session, runtime.settings, runtime.encryptor, spec, actor_id=who.user.id
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _form_page(request, session, who, None, values, exc)
    return back(f"{PATH}/{row.slug}", "created")


def _get(session: Session, slug: str) -> UpstreamProvider:
    row = repo.get_by_slug(session, slug[:40])
    if row is None:
        raise NotFound("upstream.unknown")
    return row


@router.get(PATH + "/{slug}")
def upstream_page(request: Request, session: SessionDep, slug: str) -> Response:
    who = staff(request, session, PERMISSION)
    row = _get(session, slug)
    return _form_page(request, session, who, row, _values(row))


@router.get(PATH + "/{slug}/disable/confirm")
def confirm_disable(request: Request, session: SessionDep, slug: str) -> Response:
    who = staff(request, session, PERMISSION)
    row = _get(session, slug)
    locale = confirm.locale_of(request)
    c = confirm.Confirmation(
        title="upstr.admin.confirm_title",
        title_params={"name": row.name},
        action=f"{PATH}/{row.slug}/disable",
        cancel=f"{PATH}/{row.slug}",
        button="upstr.admin.confirm_button",
        lines=[
            confirm.line(locale, "upstr.admin.confirm_button_gone", name=row.name),
            confirm.line(locale, "upstr.admin.confirm_links", n=repo.count_links(session, row.id)),
            confirm.line(locale, "upstr.admin.confirm_kept"),
        ],
    )
    return confirm.show(request, who, c)


@router.post(PATH + "/{slug}/{action}")
def upstream_action(
    request: Request, session: SessionDep, form: FormDep, slug: str, action: str
) -> Response:
    path = f"{PATH}/{slug[:40]}"
    who = staff(request, session, PERMISSION, next_path=path)
    runtime = runtime_of(request)
    row = _get(session, slug)
    try:
        if action == "edit":
            values = _posted(form)
            registry.update(
                session,
                runtime.settings,
                runtime.encryptor,
                row.slug,
                registry.UpstreamChanges(
                    name=values["name"],
                    issuer=values["issuer"],
                    client_id=values["client_id"],
                    client_secret=form.get("client_secret") or None,
                    scope=values["scope"] or None,
                    accounts=values["accounts"] or None,
                    identity_assurance=values["identity_assurance"],
                    staff_match=values["staff_match"],
                    staff_claim=values["staff_claim"],
                ),
                actor_id=who.user.id,
            )
            done = "saved"
        elif action == "disable":
            if not confirm.is_confirmed(request, who, form, f"{path}/disable", ()):
                return confirm.ask(f"{path}/disable/confirm")
            registry.disable(session, row.slug, actor_id=who.user.id)
            done = "disabled"
        elif action == "enable":
            registry.enable(session, row.slug, actor_id=who.user.id)
            done = "enabled"
        else:
            raise NotFound("admin.error.unknown_action")
        session.commit()
    except DomainError as exc:
        session.rollback()
        if action == "edit":
            return _form_page(request, session, who, _get(session, slug), _posted(form), exc)
        return back(path, error=exc.message)
    runtime.upstream_metadata.forget(row.issuer)  # a changed issuer is looked up afresh
    return back(path, done)
