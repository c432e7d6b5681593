"""The webhook sender: every ``sso serve`` worker runs one (:func:`start_worker`).

One round (:func:`deliver_due`): fan new outbox events out to deliveries, claim the due ones
(see :mod:`sso.storage.webhook_deliveries` for why this is safe in any number of processes),
sign and POST each, and record the outcome. A 2xx answer is success; anything else (another
status, a timeout, a refused connection, a URL the SSRF guard refuses now) is retried after
``webhook_retry_base * 2**(n-1)`` seconds (at most ``webhook_retry_cap``) until
``webhook_retry_window`` (24 hours) after the first attempt, then the delivery fails. A
subscription that has had no success for that long while failing is paused, with a notice on
the admin dashboard, until an admin resumes it. Delivery is at least once: a worker killed
after sending but before recording sends again later, with the same ``webhook-id``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from sso import __version__
from sso.core.clock import now
from sso.db.models import WebhookSubscription
from sso.oauth.pinned_http import pinned_post
from sso.oauth.url_guard import Resolver, UnsafeURL, allow_private, system_resolver
from sso.runtime import Runtime
from sso.storage import audit
from sso.storage import webhook_deliveries as repo
from sso.storage import webhooks as subscription_repo
from sso.storage.webhook_deliveries import Claimed
from sso.webhooks import payload
from sso.webhooks.subscriptions import WEBHOOK_PAUSED, signing_secrets

log = logging.getLogger("sso.webhooks")
BATCH = 50
MAX_PARALLEL_SENDS = 8


@dataclass(frozen=True)
class Message:
    claimed: Claimed
    url: str
    message_id: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    status_code: int | None
    error: str | None  # None: delivered
    duration_ms: int


def backoff(runtime: Runtime, attempts: int) -> timedelta:
    s = runtime.settings
    return timedelta(
        seconds=min(s.webhook_retry_base * 2 ** max(attempts - 1, 0), s.webhook_retry_cap)
    )


def _lease(runtime: Runtime) -> timedelta:
    # Longer than one send can take, so a claimed delivery is never sent twice at once.
    return timedelta(seconds=4 * runtime.settings.webhook_timeout + 30)


def headers_for(message_id: str, body: bytes, secrets: tuple[str, ...]) -> dict[str, str]:
    """The Standard Webhooks headers: one ``v1,`` signature per secret, space-separated."""
    at = now()
    signatures = " ".join(Webhook(s).sign(message_id, at, body) for s in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "Content-Type": "application/json",
        "User-Agent": f"Tangsel-SSO/{__version__} (webhooks)",
    }


def send(runtime: Runtime, message: Message, resolver: Resolver = system_resolver) -> Result:
    started = time.monotonic()
    private = allow_private(runtime.settings)

    def result(code: int | None, error: str | None) -> Result:
        return Result(code, error, int((time.monotonic() - started) * 1000))

    try:
        response = pinned_post(
            message.url,
            private_ok=private,
            http_ok=private,
            content=message.body,
            headers=headers_for(message.message_id, message.body, message.secrets),
            timeout=runtime.settings.webhook_timeout,
            resolver=resolver,
        )
    except UnsafeURL as exc:
        return result(None, f"URL refused: {exc.reason}")
    except httpx.HTTPError as exc:
        return result(None, f"{exc.__class__.__name__}: {str(exc)[:200]}")
    if 200 <= response.status_code < 300:
        return result(response.status_code, None)
    return result(response.status_code, f"HTTP {response.status_code}")


def _prepare(runtime: Runtime, limit: int) -> list[Message]:
    with runtime.sessions() as session:
        repo.dispatch(session)
        claimed = repo.claim_due(
            session,
            lease=_lease(runtime),
            limit=limit,
            window=timedelta(seconds=runtime.settings.webhook_retry_window),
        )
        messages = []
        subs: dict[str, WebhookSubscription | None] = {}
        for c in claimed:
            if c.subscription_id not in subs:
                subs[c.subscription_id] = subscription_repo.get(session, c.subscription_id)
            sub, event = subs[c.subscription_id], repo.event_of(session, c.event_id)
            if sub is None or event is None:
                continue
            messages.append(
                Message(
                    c,
                    sub.url,
                    event.message_id,
                    payload.body(event),
                    tuple(signing_secrets(runtime.encryptor, sub)),
                )
            )
        session.commit()
    return messages


def _record(runtime: Runtime, results: list[tuple[Message, Result]]) -> None:
    window = timedelta(seconds=runtime.settings.webhook_retry_window)
    with runtime.sessions() as session:
        for message, r in results:
            c = message.claimed
            retry_at = None if r.error is None else now() + backoff(runtime, c.attempts)
            status = repo.record_attempt(
                session,
                c,
                status_code=r.status_code,
                error=r.error,
                duration_ms=r.duration_ms,
                next_attempt_at=retry_at,
            )
            _note(session, c, status, window)
            if r.error is not None:
                log.warning(
                    "webhook %s to subscription %s failed (attempt %d, %s): %s",
                    message.message_id,
                    c.subscription_id,
                    c.attempts,
                    status,
                    r.error,
                )
        session.commit()


def _note(session: Session, claimed: Claimed, status: str, window: timedelta) -> None:
    """Keep the subscription's health. A success clears ``failing_since``. It is paused when
    it has failed without one success for the whole retry window: a delivery gave up and
    nothing succeeded since that delivery's first attempt, or failures went on that long."""
    S = WebhookSubscription
    t = now()
    if status == "delivered":
        session.execute(
            update(S)
            .where(S.id == claimed.subscription_id)
            .values(last_success_at=t, failing_since=None)
            .execution_options(synchronize_session=False)
        )
        return
    sub = subscription_repo.get(session, claimed.subscription_id)
    if sub is None:
        return
    session.refresh(sub)
    if sub.failing_since is None:
        sub.failing_since = t
    first_attempt = claimed.give_up_at - window
    gave_up = status == "failed" and (
        sub.last_success_at is None or sub.last_success_at < first_attempt
    )
    if sub.status == "active" and (gave_up or t - sub.failing_since >= window):
        sub.status, sub.paused_reason, sub.paused_at = "paused", "failing", t
        sub.version += 1
        audit.record(
            session,
            WEBHOOK_PAUSED,
            outcome="failure",
            target_type="webhook",
            target_id=sub.id,
            subscription_id=sub.id,
            reason="failing",
        )
        log.error("webhook subscription %s paused: failing for %s", sub.id, window)
    session.flush()


def deliver_due(
    runtime: Runtime, limit: int = BATCH, *, resolver: Resolver = system_resolver
) -> int:
    """One round; returns how many deliveries were attempted."""
    messages = _prepare(runtime, limit)
    if not messages:
        return 0
    if len(messages) == 1:
        results = [send(runtime, messages[0], resolver)]
    else:
        with ThreadPoolExecutor(min(MAX_PARALLEL_SENDS, len(messages))) as pool:
            results = list(pool.map(lambda m: send(runtime, m, resolver), messages))
    _record(runtime, list(zip(messages, results, strict=True)))
    return len(messages)


def _round_quietly(runtime: Runtime) -> None:
    try:
        while deliver_due(runtime) >= BATCH:  # a full batch: more may be due
            pass
    except SQLAlchemyError as exc:
        log.warning("webhook delivery skipped: database %s", exc.__class__.__name__)
    except Exception:
        log.exception("webhook delivery crashed")


def start_worker(runtime: Runtime, *, interval: float | None = None) -> Callable[[], None]:
    """Start this process's sender (a daemon thread): a round every ``interval`` seconds, and
    at once when this process commits an outbox event. Returns the function that stops it."""
    every = runtime.settings.webhook_worker_interval if interval is None else interval
    stop = threading.Event()
    wake = subscription_repo.outbox_signal

    def loop() -> None:
        while not stop.is_set():
            _round_quietly(runtime)
            wake.wait(every)
            wake.clear()

    thread = threading.Thread(target=loop, name="webhook-sender", daemon=True)
    thread.start()

    def stop_worker() -> None:
        stop.set()
        wake.set()
        thread.join(timeout=4 * runtime.settings.webhook_timeout + 5)

    return stop_worker
