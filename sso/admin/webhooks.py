"""``/admin/webhooks`` (issue 16): webhook subscriptions in the admin console.

A list (searched, paged both ways, by status); a new subscription, whose signing secret is
shown once on the console's secret page (:mod:`sso.admin.handover`); a subscription's page
with its settings (optimistic locking), pause / resume, the delivery log (attempts, status,
response code, time) with "send again", and the actions that first say what they will do and
ask for a fresh login: rotating the secret and deleting. Admins only. The rules are
:mod:`sso.webhooks.subscriptions`, shared with the CLI and the admin API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.admin import confirm, handover, reauth
from sso.admin.access import FormDep, Staff, staff
from sso.admin.views import back, page
from sso.core.errors import DomainError, NotFound
from sso.db.models import WebhookSubscription
from sso.storage import webhook_deliveries as delivery_repo
from sso.storage import webhooks as repo
from sso.web.deps import SessionDep, runtime_of
from sso.webhooks import subscriptions as service

router = APIRouter()
PATH = "/admin/webhooks"
PERMISSION = "webhooks.manage"
STATUSES = ("active", "paused")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
PER_PAGE = 25


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 1


def _types(form_values: list[str], extra: str) -> list[str]:
    return [*form_values, *extra.replace(",", " ").split()]


@router.get(PATH)
def webhooks_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, PERMISSION)
    qp = request.query_params
    status = qp.get("status", "")
    status = status if status in STATUSES else ""
    q = qp.get("q", "").strip()[:100]
    found = repo.search(
        session,
        query=q,
        status=status or None,
        number=_number(qp.get("page", "1")[:6]),
        size=PER_PAGE,
    )
    query = {k: v for k, v in (("q", q), ("status", status)) if v}
    return page(
        request,
        "admin/webhooks.html",
        who,
        {
            "subscriptions": found.rows,
            "page": found,
            "q": q,
            "query": query,
            "status": status,
            "statuses": STATUSES,
        },
    )


def _new_form(
    request: Request, who: Staff, values: dict[str, object], error: DomainError | None = None
) -> Response:
    context: dict[str, object] = {
        "nouns": service.known_nouns(),
        "known": service.known_event_types(),
        "values": values,
    }
    if error is not None:
        context.update(error=error.message, error_params=error.params)
    return page(
        request, "admin/webhook_new.html", who, context, status=error.status_code if error else 200
    )


@router.get(PATH + "/new")
def new_webhook_page(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, PERMISSION)
    return _new_form(request, who, {"url": "", "description": "", "types": [], "extra": ""})


@router.post(PATH + "/new")
def create_webhook(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, PERMISSION, next_path=PATH + "/new")
    runtime = runtime_of(request)
    values: dict[str, object] = {
        "url": form.get("url"),
        "description": form.get("description"),
        "types": form.all("event_types"),
        "extra": form.get("extra_event_types"),
    }
    try:
        made = service.create(
            session,
            runtime.settings,
            runtime.encryptor,
            url=form.get("url"),
            description=form.get("description"),
            event_types=_types(form.all("event_types"), form.get("extra_event_types")),
            actor_id=who.user.id,
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _new_form(request, who, values, exc)
    path = f"{PATH}/{made.subscription.id}"
    return handover.hand_over(
        request, who, kind="webhook", name=made.subscription.url, secret=made.secret, back_to=path
    )


def _detail(
    request: Request,
    session: Session,
    who: Staff,
    sub: WebhookSubscription,
    error: DomainError | None = None,
) -> Response:
    qp = request.query_params
    status = qp.get("delivery_status", "")
    status = status if status in DELIVERY_STATUSES else ""
    log = delivery_repo.log(
        session,
        sub.id,
        status=status or None,
        number=_number(qp.get("page", "1")[:6]),
        size=PER_PAGE,
    )
    context: dict[str, object] = {
        "sub": sub,
        "log": log,
        "delivery_status": status,
        "delivery_statuses": DELIVERY_STATUSES,
        "query": {"delivery_status": status} if status else {},
        "counts": delivery_repo.counts(session, sub.id),
        "nouns": service.known_nouns(),
        "known": service.known_event_types(),
        "extra_types": " ".join(t for t in sub.event_types if t != "*" and not t.endswith(".*")),
    }
    if error is not None:
        context.update(error=error.message, error_params=error.params)
    return page(
        request, "admin/webhook.html", who, context, status=error.status_code if error else 200
    )


@router.get(PATH + "/{subscription_id}")
def webhook_page(request: Request, session: SessionDep, subscription_id: str) -> Response:
    who = staff(request, session, PERMISSION)
    return _detail(request, session, who, service.get(session, subscription_id))


@router.get(PATH + "/{subscription_id}/deliveries/{delivery_id}")
def delivery_page(
    request: Request, session: SessionDep, subscription_id: str, delivery_id: str
) -> Response:
    who = staff(request, session, PERMISSION)
    sub = service.get(session, subscription_id)
    delivery = delivery_repo.get(session, delivery_id)
    if delivery is None or delivery.subscription_id != sub.id:
        raise NotFound("admin.webhooks.error.delivery_not_found")
    return page(
        request,
        "admin/webhook_delivery.html",
        who,
        {
            "sub": sub,
            "delivery": delivery,
            "event": delivery_repo.event_of(session, delivery.event_id),
            "attempts": delivery_repo.attempts_of(session, delivery.id),
        },
    )


CONFIRMED = frozenset({"delete", "rotate"})


@router.get(PATH + "/{subscription_id}/{action}/confirm")
def confirm_action(
    request: Request, session: SessionDep, subscription_id: str, action: str
) -> Response:
    who = staff(request, session, PERMISSION)
    sub = service.get(session, subscription_id)
    if action not in CONFIRMED:
        raise NotFound("admin.error.unknown_action")
    path = f"{PATH}/{sub.id}"
    locale = confirm.locale_of(request)
    counts = delivery_repo.counts(session, sub.id)
    c = confirm.Confirmation(
        title=f"webhooks.confirm.{action}.title",
        title_params={"url": sub.url},
        action=f"{path}/{action}",
        cancel=path,
        button=f"webhooks.confirm.{action}.button",
        note="admin.confirm.fresh_login",
    )
    if action == "delete":
        c.lines = [
            confirm.line(locale, "webhooks.confirm.delete.stops", url=sub.url),
            confirm.line(locale, "webhooks.confirm.delete.pending", n=counts.get("pending", 0)),
            confirm.line(locale, "webhooks.confirm.delete.log", n=sum(counts.values())),
        ]
    else:
        c.lines = [
            confirm.line(locale, "webhooks.confirm.rotate.grace"),
            confirm.line(locale, "webhooks.confirm.rotate.once"),
        ]
    return confirm.show(request, who, c)


@router.post(PATH + "/{subscription_id}/deliveries/{delivery_id}/send-again")
def send_again(
    request: Request, session: SessionDep, form: FormDep, subscription_id: str, delivery_id: str
) -> Response:
    path = f"{PATH}/{subscription_id[:36]}"
    who = staff(request, session, PERMISSION, next_path=path)
    try:
        service.send_again(
            session, delivery_id, subscription_id=subscription_id[:36], actor_id=who.user.id
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        return back(path, error=exc.message)
    return back(path, "sent_again")


@router.post(PATH + "/{subscription_id}/{action}")
def webhook_action(
    request: Request, session: SessionDep, form: FormDep, subscription_id: str, action: str
) -> Response:
    path = f"{PATH}/{subscription_id[:36]}"
    who = staff(request, session, PERMISSION, next_path=path)
    if action in CONFIRMED:
        if not confirm.is_confirmed(request, who, form, f"{path}/{action}", ()):
            return confirm.ask(f"{path}/{action}/confirm")  # nothing happens without it
        fresh = reauth.recent_staff(
            request, session, PERMISSION, form, back_to=f"{path}/{action}/confirm"
        )
        if isinstance(fresh, Response):
            return fresh
        who = fresh
    runtime = runtime_of(request)
    actor = who.user.id
    version = _number(form.get("version")) if form.get("version") else None
    try:
        if action == "edit":
            service.update(
                session,
                runtime.settings,
                subscription_id,
                version=version,
                url=form.get("url"),
                description=form.get("description"),
                event_types=_types(form.all("event_types"), form.get("extra_event_types")),
                actor_id=actor,
            )
            done = "saved"
        elif action == "pause":
            service.pause(session, subscription_id, version=version, actor_id=actor)
            done = "paused"
        elif action == "resume":
            service.resume(session, subscription_id, version=version, actor_id=actor)
            done = "resumed"
        elif action == "delete":
            service.delete(session, subscription_id, actor_id=actor)
            session.commit()
            return reauth.forget(request, back(PATH, "deleted"))
        elif action == "rotate":
            made = service.rotate_secret(
                session, runtime.encryptor, subscription_id, actor_id=actor
            )
            session.commit()
            return handover.hand_over(
                request,
                who,
                kind="webhook",
                name=made.subscription.url,
                secret=made.secret,
                back_to=path,
            )
        else:
            raise NotFound("admin.error.unknown_action")
        session.commit()
    except DomainError as exc:
        session.rollback()
        if action == "edit" and not isinstance(exc, NotFound):
            return _detail(request, session, who, service.get(session, subscription_id), exc)
        return back(path if not isinstance(exc, NotFound) else PATH, error=exc.message)
    return reauth.forget(request, back(path, done))
