"""Back-Channel Logout 1.0 (§2.4–§2.8): sending the logout tokens.

Deliveries are an outbox (:mod:`sso.storage.logout`), filled by
:func:`sso.oidc.logout.end_session` and :mod:`sso.oidc.session_end`. After the logout commits,
:func:`deliver_soon` sends them on the runtime's back-channel thread pool, so a slow or dead relying party
never holds up the person's logout; :func:`start_delivery_worker` polls for deliveries that are
due again (retries with exponential back-off, rows enqueued by the CLI, or left behind by a
worker that died). The logout token is signed when it is sent, with the client's
``id_token_signed_response_alg``: ``typ: logout+jwt``, ``iss``, ``aud``, ``iat``, ``exp`` (two
minutes), ``jti``, ``events``, ``sub`` and ``sid`` (when the session is known), and never a
``nonce`` (§2.4).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sso import __version__
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import random_id
from sso.core.events import Event
from sso.core.pools import ThreadPool
from sso.db.models import Client
from sso.oauth.pinned_http import pinned_post
from sso.oauth.tokens import Signer
from sso.oauth.url_guard import Resolver, UnsafeURL, allow_private, system_resolver
from sso.oidc.keys import KeyService
from sso.storage import audit
from sso.storage import clients as client_repo
from sso.storage import logout as delivery_repo
from sso.storage.logout import ClaimedDelivery

log = logging.getLogger("sso.oidc.backchannel")

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"
LOGOUT_TOKEN_LIFETIME = 120
# Retry n (n = attempts so far) waits BACKOFF_BASE * 2**(n-1) seconds, at most BACKOFF_CAP:
# 15 s, 30 s, 1 min, 2 min … — an RP that restarts is caught within minutes.
BACKOFF_BASE = 15
BACKOFF_CAP = 3600
MAX_PARALLEL_SENDS = 8
WORKER_INTERVAL = 5.0
BATCH = 50


class DeliveryRuntime(Protocol):
    """What back-channel logout uses of the application's runtime
    (``sso.web.app_runtime.AppRuntime``, which this layer may not import)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def keys(self) -> KeyService: ...

    @property
    def backchannel_pool(self) -> ThreadPool: ...


def logout_token(
    keys: Signer,
    settings: Settings,
    client: Client,
    *,
    sub: str,
    sid: str | None,
    session: Session | None = None,
) -> str:
    """A Logout Token (§2.4) for ``client``."""
    iat = int(now().timestamp())
    claims: dict[str, Any] = {
        "iss": settings.issuer_url,
        "aud": client.client_id,
        "iat": iat,
        "exp": iat + LOGOUT_TOKEN_LIFETIME,
        "jti": random_id(),
        "events": {BACKCHANNEL_EVENT: {}},
        "sub": sub,
    }
    if sid:
        claims["sid"] = sid
    alg = client.id_token_signed_response_alg or settings.default_signing_alg
    return keys.sign_jwt(claims, alg, LOGOUT_TOKEN_TYPE, session=session)


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt did: ``delivered``, ``retry`` or ``failed``."""

    delivery_id: str
    client_id: str
    status: str
    error: str | None = None


@dataclass(frozen=True)
class _Job:
    delivery: ClaimedDelivery
    uri: str | None
    client: Client | None


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP))


def _lease(settings: Settings) -> timedelta:
    # Longer than any one send can take (httpx applies the timeout per phase), so a claimed
    # row is never sent twice at once; if its sender dies, it is due again after this.
    return timedelta(seconds=4 * settings.backchannel_logout_timeout + 30)


def _send(runtime: DeliveryRuntime, job: _Job, resolver: Resolver) -> str | None:
    """POST the logout token; None on success, else an error for logs (never the token)."""
    if job.uri is None or job.client is None:
        return "client has no back-channel logout URI any more"
    d = job.delivery
    try:
        token = logout_token(
            runtime.keys,
            runtime.settings,
            job.client,
            sub=str(d.payload.get("sub") or d.user_id),
            sid=d.session_id,
        )
    except Exception as exc:  # noqa: BLE001  (retried like a failed send)
        return f"cannot sign logout token: {exc.__class__.__name__}"
    # SSRF guard, now: the name may resolve to a private address by now, so it is resolved once
    # here, every address vetted, and the request sent to a vetted one (no second lookup: DNS
    # rebinding). Trusted clients are first-party, registered by an admin, and may sit on the
    # city's own network.
    trusted = job.client.trusted
    try:
        response = pinned_post(
            job.uri,
            private_ok=trusted or allow_private(runtime.settings),
            http_ok=trusted,
            data={"logout_token": token},
            headers={"User-Agent": f"Tangsel-SSO/{__version__} (back-channel logout)"},
            timeout=runtime.settings.backchannel_logout_timeout,
            resolver=resolver,
        )
    except UnsafeURL as exc:
        return f"back-channel logout URI refused: {exc.reason}"
    except httpx.HTTPError as exc:
        return f"{exc.__class__.__name__}: {str(exc)[:200]}"
    # §2.8: 200 on success; 204 is also to be expected, and other 2xx are harmless.
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def _record(runtime: DeliveryRuntime, results: list[tuple[_Job, str | None]]) -> list[Outcome]:
    settings = runtime.settings
    outcomes = []
    with runtime.sessions() as session:
        for job, error in results:
            d = job.delivery
            if error is None:
                delivery_repo.mark_delivered(session, d.id)
                outcomes.append(Outcome(d.id, d.client_id, "delivered"))
                continue
            give_up = job.uri is None or d.attempts >= settings.backchannel_logout_max_attempts
            if not give_up:
                delivery_repo.mark_retry(
                    session, d.id, error=error, next_attempt_at=now() + backoff(d.attempts)
                )
                log.warning(
                    "back-channel logout to client %s failed (attempt %d), will retry: %s",
                    d.client_id,
                    d.attempts,
                    error,
                )
                outcomes.append(Outcome(d.id, d.client_id, "retry", error))
                continue
            delivery_repo.mark_failed(session, d.id, error=error)
            audit.record(
                session,
                Event.BACKCHANNEL_LOGOUT_FAILED,
                outcome="failure",
                actor_id=d.user_id,
                client_id=d.client_id,
                target_type="backchannel_delivery",
                target_id=d.id,
                session_id=d.session_id,
                attempts=d.attempts,
                error=error,
            )
            log.error(
                "back-channel logout to client %s given up after %d attempt(s): %s",
                d.client_id,
                d.attempts,
                error,
            )
            outcomes.append(Outcome(d.id, d.client_id, "failed", error))
        session.commit()
    return outcomes


def deliver_due(
    runtime: DeliveryRuntime,
    limit: int = BATCH,
    *,
    ids: Collection[str] | None = None,
    resolver: Resolver = system_resolver,
) -> list[Outcome]:
    """Claim up to ``limit`` due deliveries (only ``ids`` when given), send them in parallel
    and record each outcome. Safe to run in any number of processes at once. ``resolver``
    answers the one DNS lookup of each send (:mod:`sso.oauth.pinned_http`)."""
    with runtime.sessions() as session:
        claimed = delivery_repo.claim_due(
            session, lease=_lease(runtime.settings), limit=limit, ids=ids
        )
        jobs = []
        for d in claimed:
            client = client_repo.get_by_client_id(session, d.client_id)
            uri = client.backchannel_logout_uri if client is not None else None
            jobs.append(_Job(d, uri or None, client))
        session.commit()
    if not jobs:
        return []
    # pinned_post follows no redirect: the token goes to the registered URI and nowhere else.
    if len(jobs) == 1:
        errors = [_send(runtime, jobs[0], resolver)]
    else:
        with ThreadPoolExecutor(min(MAX_PARALLEL_SENDS, len(jobs))) as pool:
            errors = list(pool.map(lambda job: _send(runtime, job, resolver), jobs))
    return _record(runtime, list(zip(jobs, errors, strict=True)))


def _deliver_quietly(runtime: DeliveryRuntime, ids: Collection[str] | None) -> None:
    try:
        if ids is not None:
            deliver_due(runtime, ids=ids)
            return
        while len(deliver_due(runtime, BATCH)) >= BATCH:  # a full batch: more may be due
            pass
    except SQLAlchemyError as exc:
        log.warning("back-channel logout delivery skipped: database %s", exc.__class__.__name__)
    except Exception:
        log.exception("back-channel logout delivery crashed")


def deliver_soon(runtime: DeliveryRuntime, ids: Collection[str]) -> None:
    """Send these (committed) deliveries on a background thread; returns at once. Whatever
    this process fails to send, the delivery worker of any process retries."""
    if not ids:
        return
    try:
        runtime.backchannel_pool.submit(_deliver_quietly, runtime, list(ids))
    except RuntimeError:  # shutting down: the worker of another process picks it up
        log.info("back-channel logout left to the delivery worker (shutting down)")


def start_delivery_worker(
    runtime: DeliveryRuntime, *, interval: float = WORKER_INTERVAL
) -> Callable[[], None]:
    """Start this process's retry loop (a daemon thread polling every ``interval`` seconds);
    returns a function that stops it and the :func:`deliver_soon` pool. Call it from the app
    lifespan; one loop per process is enough, any number of processes may run one."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            _deliver_quietly(runtime, None)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="backchannel-logout-worker", daemon=True)
    thread.start()

    def stop_worker() -> None:
        stop.set()
        thread.join(timeout=4 * runtime.settings.backchannel_logout_timeout + 5)
        stop_background_deliveries(runtime)

    return stop_worker


def stop_background_deliveries(runtime: DeliveryRuntime, *, wait: bool = False) -> None:
    """Shut down the :func:`deliver_soon` pool. With ``wait``, block until the sends in flight
    are recorded (tests); otherwise queued sends are dropped, to be retried by a worker."""
    runtime.backchannel_pool.shutdown(wait=wait, cancel_futures=not wait)
