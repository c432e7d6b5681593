"""The rules of webhook subscriptions, shared by the admin console, the CLI and the admin API.

Every function takes the caller's session and leaves committing to it; each change is an
audit event (``webhook.created`` …) with the acting admin (or API client) as actor. Bad input
raises :class:`~sso.core.errors.InvalidInput` with a catalogue key and an English ``detail``
for operators; a stale ``version`` raises :class:`~sso.core.errors.Conflict` (the console's
optimistic locking, the API's ``If-Match``).

The URL must be https and reach a public address (the SSRF guard of back-channel logout,
:mod:`sso.oauth.url_guard`); in dev and test, or with ``SSO_ALLOW_PRIVATE_CLIENT_URLS``,
private addresses and http are allowed. Event types are audit event names (``user.created``),
a noun with a wildcard (``client.*``) or ``*`` for every event.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import Encryptor
from sso.core.errors import Conflict, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import WebhookDelivery, WebhookSubscription
from sso.oauth.url_guard import UnsafeURL, allow_private, check_url
from sso.storage import audit
from sso.storage import webhook_deliveries as delivery_repo
from sso.storage import webhooks as repo

WEBHOOK_CREATED = Event.WEBHOOK_CREATED
WEBHOOK_UPDATED = Event.WEBHOOK_UPDATED
WEBHOOK_PAUSED = Event.WEBHOOK_PAUSED
WEBHOOK_RESUMED = Event.WEBHOOK_RESUMED
WEBHOOK_DELETED = Event.WEBHOOK_DELETED
WEBHOOK_SECRET_ROTATED = Event.WEBHOOK_SECRET_ROTATED
WEBHOOK_REDELIVERED = Event.WEBHOOK_REDELIVERED
# After a rotation the old secret still signs (beside the new one) this long.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
MAX_EVENT_TYPES = 50
MAX_DESCRIPTION = 200
_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*\.(\*|[a-z][a-z0-9_]*))$")


def known_event_types() -> list[str]:
    """Every audit event name: the closed enum :class:`sso.core.events.Event`."""
    return sorted(event.value for event in Event)


def known_nouns() -> list[str]:
    return sorted({name.split(".", 1)[0] for name in known_event_types()})


def clean_event_types(values: list[str]) -> list[str]:
    """Validated, de-duplicated event types, in the order given. An exact name must be one we
    emit (so a typo such as ``login.failed`` for ``user.login_failed`` is caught at once)."""
    known, nouns = set(known_event_types()), set(known_nouns())
    cleaned: list[str] = []
    for raw in values:
        for value in raw.replace(",", " ").split():
            if not _PATTERN.match(value):
                raise InvalidInput(
                    "admin.webhooks.error.event_type",
                    detail=f"bad event type {value!r}",
                    value=value[:64],
                )
            noun = value.split(".", 1)[0]
            if value != "*" and (
                noun not in nouns or (value not in known and not value.endswith(".*"))
            ):
                raise InvalidInput(
                    "admin.webhooks.error.event_unknown",
                    detail=f"unknown event type {value!r}",
                    value=value[:64],
                )
            if value not in cleaned:
                cleaned.append(value)
    if not cleaned:
        raise InvalidInput("admin.webhooks.error.no_events", detail="give at least one event type")
    if len(cleaned) > MAX_EVENT_TYPES:
        raise InvalidInput("admin.webhooks.error.too_many", detail="too many event types")
    return cleaned


def clean_url(settings: Settings, url: str) -> str:
    url = url.strip()
    try:
        return check_url(url, private_ok=allow_private(settings))
    except UnsafeURL as exc:
        raise InvalidInput(
            "admin.webhooks.error.url", detail=f"url refused: {exc.reason}", reason=exc.reason
        ) from None


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$")


def check_given_secret(secret: str) -> str:
    """A secret chosen by an operator (configuration as code) instead of generated: the
    Standard Webhooks form ``whsec_`` + base64 of 24 to 64 random bytes."""
    import base64
    import binascii

    body = secret.strip().removeprefix("whsec_")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not secret.strip().startswith("whsec_") or not 24 <= len(raw) <= 64:
        raise InvalidInput(
            "webhooks.error.secret",
            detail="a given webhook secret is whsec_ and the base64 of 24 to 64 random bytes",
        )
    return secret.strip()


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Created:
    subscription: WebhookSubscription
    secret: str  # shown once, never stored in the clear


def create(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    *,
    url: str,
    event_types: list[str],
    description: str = "",
    actor_id: str | None = None,
    client_id: str | None = None,
    subscription_id: str | None = None,
    secret: str | None = None,
) -> Created:
    """A new subscription. ``subscription_id`` and ``secret`` are given only by configuration
    as code (a rebuilt deployment keeps what receivers know); otherwise both are generated."""
    if subscription_id is not None:
        if not _ID.fullmatch(subscription_id):
            raise InvalidInput("webhooks.error.id", detail="id: 1-36 letters, digits, . _ -")
        if repo.get(session, subscription_id) is not None:
            raise Conflict("webhooks.error.id_taken", detail=f"webhook {subscription_id!r} exists")
    secret = check_given_secret(secret) if secret else new_secret()
    sub = repo.add(
        session,
        WebhookSubscription(
            **({"id": subscription_id} if subscription_id else {}),
            url=clean_url(settings, url),
            event_types=clean_event_types(event_types),
            description=description.strip()[:MAX_DESCRIPTION],
            secret_encrypted=encryptor.encrypt(secret),
            status="active",
            version=1,
            created_by=actor_id,
        ),
    )
    _audit(session, WEBHOOK_CREATED, sub, actor_id, client_id, event_types=sub.event_types)
    return Created(sub, secret)


def get(session: Session, subscription_id: str) -> WebhookSubscription:
    sub = repo.get(session, subscription_id)
    if sub is None:
        raise NotFound("admin.webhooks.error.not_found", detail="no such webhook subscription")
    return sub


def _locked(session: Session, subscription_id: str, version: int | None) -> WebhookSubscription:
    sub = repo.get_for_update(session, subscription_id)
    if sub is None:
        raise NotFound("admin.webhooks.error.not_found", detail="no such webhook subscription")
    if version is not None and version != sub.version:
        raise Conflict("admin.webhooks.error.conflict", detail="the subscription changed meanwhile")
    return sub


def _bump(sub: WebhookSubscription) -> None:
    sub.version += 1
    sub.updated_at = now()


def update(
    session: Session,
    settings: Settings,
    subscription_id: str,
    *,
    version: int | None,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    actor_id: str | None = None,
    client_id: str | None = None,
) -> WebhookSubscription:
    sub = _locked(session, subscription_id, version)
    changed: list[str] = []
    if url is not None and clean_url(settings, url) != sub.url:
        sub.url, changed = url.strip(), [*changed, "url"]
    if event_types is not None:
        types = clean_event_types(event_types)
        if types != list(sub.event_types):
            sub.event_types, changed = types, [*changed, "event_types"]
    if description is not None and description.strip()[:MAX_DESCRIPTION] != sub.description:
        sub.description, changed = description.strip()[:MAX_DESCRIPTION], [*changed, "description"]
    if changed:
        _bump(sub)
        session.flush()
        repo.forget_interest(session)
        _audit(session, WEBHOOK_UPDATED, sub, actor_id, client_id, fields=changed)
    return sub


def pause(
    session: Session,
    subscription_id: str,
    *,
    version: int | None = None,
    reason: str = "admin",
    actor_id: str | None = None,
    client_id: str | None = None,
) -> WebhookSubscription:
    """Stop sending; events keep being queued for it and go out when it resumes."""
    sub = _locked(session, subscription_id, version)
    if sub.status != "paused":
        sub.status, sub.paused_reason, sub.paused_at = "paused", reason, now()
        _bump(sub)
        session.flush()
        _audit(session, WEBHOOK_PAUSED, sub, actor_id, client_id, reason=reason)
    return sub


def resume(
    session: Session,
    subscription_id: str,
    *,
    version: int | None = None,
    actor_id: str | None = None,
    client_id: str | None = None,
) -> WebhookSubscription:
    """Send again: what waited is due at once, each delivery with a fresh 24-hour window."""
    sub = _locked(session, subscription_id, version)
    if sub.status != "active":
        sub.status, sub.paused_reason, sub.paused_at = "active", None, None
        sub.failing_since = None
        _bump(sub)
        session.flush()
        delivery_repo.resume(session, sub.id)
        _audit(session, WEBHOOK_RESUMED, sub, actor_id, client_id)
    return sub


def delete(
    session: Session,
    subscription_id: str,
    *,
    version: int | None = None,
    actor_id: str | None = None,
    client_id: str | None = None,
) -> None:
    """Delete the subscription with its deliveries and their log."""
    sub = _locked(session, subscription_id, version)
    _audit(session, WEBHOOK_DELETED, sub, actor_id, client_id)
    repo.delete(session, sub)


def rotate_secret(
    session: Session,
    encryptor: Encryptor,
    subscription_id: str,
    *,
    version: int | None = None,
    actor_id: str | None = None,
    client_id: str | None = None,
    secret: str | None = None,
) -> Created:
    """A new secret, shown once (``secret`` when given: configuration as code). The old one also
    signs for 24 hours (each message carries both signatures), so the receiver can switch
    without losing a message."""
    sub = _locked(session, subscription_id, version)
    secret = check_given_secret(secret) if secret else new_secret()
    sub.previous_secret_encrypted = sub.secret_encrypted
    sub.previous_secret_until = now() + PREVIOUS_SECRET_GRACE
    sub.secret_encrypted = encryptor.encrypt(secret)
    _bump(sub)
    session.flush()
    _audit(session, WEBHOOK_SECRET_ROTATED, sub, actor_id, client_id)
    return Created(sub, secret)


def send_again(
    session: Session,
    delivery_id: str,
    *,
    subscription_id: str | None = None,
    actor_id: str | None = None,
    client_id: str | None = None,
) -> WebhookDelivery:
    """Send a delivery once more (same ``webhook-id``: receivers deduplicate)."""
    delivery = delivery_repo.get(session, delivery_id)
    if delivery is None or (
        subscription_id is not None and delivery.subscription_id != subscription_id
    ):
        raise NotFound("admin.webhooks.error.delivery_not_found", detail="no such delivery")
    if delivery.status == "pending":
        raise InvalidInput(
            "admin.webhooks.error.still_pending", detail="the delivery is still pending"
        )
    delivery_repo.send_again(session, delivery)
    sub = get(session, delivery.subscription_id)
    _audit(session, WEBHOOK_REDELIVERED, sub, actor_id, client_id)
    return delivery


def signing_secrets(encryptor: Encryptor, sub: WebhookSubscription) -> list[str]:
    """The secrets a message is signed with now: the current one, and the previous one
    during its grace period."""
    found = [encryptor.decrypt(sub.secret_encrypted)]
    until = sub.previous_secret_until
    if sub.previous_secret_encrypted and until is not None and until > now():
        found.append(encryptor.decrypt(sub.previous_secret_encrypted))
    return found


def _audit(
    session: Session,
    event: Event,
    sub: WebhookSubscription,
    actor_id: str | None,
    client_id: str | None,
    **details: Any,
) -> None:
    audit.record(
        session,
        event,
        actor_id=actor_id,
        client_id=client_id,
        target_type="webhook",
        target_id=sub.id,
        subscription_id=sub.id,
        **details,
    )
