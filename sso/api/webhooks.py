"""``/webhooks``: webhook subscriptions (an https URL and the audit event names it wants,
``user.*`` patterns allowed). List (any part of the URL or description; status), read,
create (the signing secret in that answer only), change (``If-Match``), pause, resume, rotate
the secret (the old one signs along for 24 hours), delete; the delivery log of one, and "send
again". The rules are :mod:`sso.webhooks.subscriptions`, shared with ``/admin/webhooks`` and
``sso webhooks``; admins only (``webhooks.manage``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select

from sso.api.common import (
    Call,
    Paging,
    Reader,
    Writer,
    check_if_match,
    iso,
    no_content,
    page_response,
    resource,
)
from sso.db.models import WebhookDelivery, WebhookSubscription
from sso.storage import keyset
from sso.storage import webhook_deliveries as delivery_repo
from sso.storage.admin_lists import clean
from sso.webhooks import subscriptions as service

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
PERMISSION = "webhooks.manage"


class WebhookOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    status: Literal["active", "paused"]
    paused_reason: str | None
    failing_since: str | None
    last_success_at: str | None
    deliveries: dict[str, int] = Field(description="Deliveries per status.")
    created_at: str
    version: int


class CreatedOut(WebhookOut):
    secret: str | None = Field(description="The signing secret: in this answer only.")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class NewWebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=200)


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(None, max_length=2000)
    event_types: list[str] | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=200)


class DeliveryOut(BaseModel):
    id: str
    event_id: int
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    created_at: str


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


def webhook_body(call: Call, sub: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "url": sub.url,
        "description": sub.description,
        "event_types": list(sub.event_types),
        "status": sub.status,
        "paused_reason": sub.paused_reason,
        "failing_since": iso(sub.failing_since),
        "last_success_at": iso(sub.last_success_at),
        "deliveries": delivery_repo.counts(call.session, sub.id),
        "created_at": iso(sub.created_at),
        "version": sub.version,
    }


def delivery_body(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "event_id": d.event_id,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": iso(d.next_attempt_at) if d.status == "pending" else None,
        "last_attempt_at": iso(d.last_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": iso(d.delivered_at),
        "created_at": iso(d.created_at),
    }


def _get(call: Call, subscription_id: str) -> WebhookSubscription:
    return service.get(call.session, subscription_id[:36])


@router.get("", response_model=WebhookList)
def list_webhooks(
    call: Reader,
    paging: Paging,
    q: Annotated[
        str, Query(max_length=100, description="Any part of the URL or description.")
    ] = "",
    status: Literal["active", "paused"] | None = None,
) -> Response:
    call.allow(PERMISSION)
    stmt = select(WebhookSubscription)
    text = clean(q).casefold()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(WebhookSubscription.url).like(pattern, escape="\\"),
                func.lower(WebhookSubscription.description).like(pattern, escape="\\"),
            )
        )
    if status:
        stmt = stmt.where(WebhookSubscription.status == status)
    found = keyset.page(
        call.session,
        stmt,
        WebhookSubscription.id,
        after=paging.after,
        before=paging.before,
        limit=paging.limit,
    )
    rows = found.rows
    return page_response(
        call.request,
        [webhook_body(call, s) for s in rows],
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
        more_before=found.more_before,
        more_after=found.more_after,
    )


@router.get("/{subscription_id}", response_model=WebhookOut)
def get_webhook(call: Reader, subscription_id: str) -> Response:
    call.allow(PERMISSION)
    return resource(webhook_body(call, _get(call, subscription_id)))


@router.post("", status_code=201, response_model=CreatedOut)
def create_webhook(call: Writer, body: NewWebhookIn) -> Response:
    """Subscribe ``url`` to ``event_types``; ``secret`` (Standard Webhooks ``whsec_…``) is in
    this answer only."""
    call.allow(PERMISSION)
    runtime = call.runtime
    made = service.create(
        call.session,
        runtime.settings,
        runtime.encryptor,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        client_id=call.caller.client_id,
    )
    call.commit()
    sub = made.subscription
    return resource(
        {**webhook_body(call, sub), "secret": made.secret},
        201,
        location=f"{call.request.url.path}/{sub.id}",
    )


@router.patch("/{subscription_id}", response_model=WebhookOut)
def update_webhook(call: Writer, subscription_id: str, body: WebhookPatch) -> Response:
    call.allow(PERMISSION)
    sub = _get(call, subscription_id)
    check_if_match(call.request, webhook_body(call, sub), required=True)
    sub = service.update(
        call.session,
        call.runtime.settings,
        sub.id,
        version=sub.version,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        client_id=call.caller.client_id,
    )
    call.commit()
    return resource(webhook_body(call, sub))


@router.post("/{subscription_id}/{action}", response_model=CreatedOut)
def webhook_action(
    call: Writer, subscription_id: str, action: Literal["pause", "resume", "rotate-secret"]
) -> Response:
    """Pause (events keep being queued), resume (what waited goes out), or rotate the secret
    (the new one in this answer only)."""
    call.allow(PERMISSION)
    sub = _get(call, subscription_id)
    check_if_match(call.request, webhook_body(call, sub), required=False)
    secret = None
    who = call.caller.client_id
    if action == "pause":
        sub = service.pause(call.session, sub.id, version=sub.version, client_id=who)
    elif action == "resume":
        sub = service.resume(call.session, sub.id, version=sub.version, client_id=who)
    else:
        made = service.rotate_secret(
            call.session, call.runtime.encryptor, sub.id, version=sub.version, client_id=who
        )
        sub, secret = made.subscription, made.secret
    call.commit()
    return resource({**webhook_body(call, sub), "secret": secret})


@router.delete("/{subscription_id}", status_code=204)
def delete_webhook(call: Writer, subscription_id: str) -> Response:
    """Delete the subscription with its deliveries and their log."""
    call.allow(PERMISSION)
    sub = _get(call, subscription_id)
    check_if_match(call.request, webhook_body(call, sub), required=True)
    service.delete(call.session, sub.id, version=sub.version, client_id=call.caller.client_id)
    call.commit()
    return no_content()


@router.get("/{subscription_id}/deliveries", response_model=DeliveryList)
def list_deliveries(
    call: Reader,
    subscription_id: str,
    paging: Paging,
    status: Literal["pending", "delivered", "failed"] | None = None,
) -> Response:
    call.allow(PERMISSION)
    sub = _get(call, subscription_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    found = keyset.page(
        call.session,
        stmt,
        WebhookDelivery.id,
        after=paging.after,
        before=paging.before,
        limit=paging.limit,
    )
    rows = found.rows
    return page_response(
        call.request,
        [delivery_body(d) for d in rows],
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
        more_before=found.more_before,
        more_after=found.more_after,
    )


@router.post("/{subscription_id}/deliveries/{delivery_id}/send-again", response_model=DeliveryOut)
def send_again(call: Writer, subscription_id: str, delivery_id: str) -> Response:
    """Send a delivery once more (the same ``webhook-id``: receivers deduplicate)."""
    call.allow(PERMISSION)
    sub = _get(call, subscription_id)
    delivery = service.send_again(
        call.session, delivery_id[:36], subscription_id=sub.id, client_id=call.caller.client_id
    )
    call.commit()
    call.session.refresh(delivery)
    return resource(delivery_body(delivery))
