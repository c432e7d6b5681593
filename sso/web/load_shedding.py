"""Load shedding and request-rate limits: refuse early and cheaply, with ``Retry-After``.

Two pure ASGI middlewares, installed by ``create_app`` inside the request-context middleware
(so the client IP is known):

- :class:`PasswordCheckAdmission`: a request that will hash or verify a password waits for its
  turn *before* it takes a thread or a database connection, in a bounded line; when the line
  is full, or the wait too long, it gets 503 at once. Which requests: those whose route's
  endpoint is marked with :func:`checks_password` (login, registration, reset, password
  change, account deletion, admin user creation...). The mark sits on the route itself, so a
  new route that hashes cannot be forgotten in a list of paths elsewhere;
  ``tests/web/test_password_line.py`` checks that every route reaching the hasher is marked. So a login storm holds only a few threads and connections, and JWKS,
  discovery and token refresh keep being served.
- :class:`RateLimits`: requests per minute per client IP (every path but health, metrics and
  static files) and per ``client_id`` at ``/token``; over the limit, 429 with ``Retry-After``
  (seconds to the end of the minute). A caller over its limit does not slow anyone else.

The per-client count at ``/token`` is taken before the request and given back when the
answer is 401 or 429 (the client did not authenticate, or was refused by the secret-guessing
lock): someone who sends another client's ``client_id`` with a wrong secret cannot use up that
client's budget.

Counters are fixed one-minute windows in Redis (``SSO_REDIS_URL``), shared by every worker and
instance, added to in batches (:class:`WindowCounters`). Without Redis, or while it cannot be
reached (retried every 30 s), each process counts on its own, so the effective limit is the setting times the number of processes: a
request-rate limit is about fairness and load, not secrets, so it degrades to approximate
rather than failing requests. (The guessing protection, which is about secrets, degrades to the
database instead: :mod:`sso.accounts.throttle`.)
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote_plus

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sso.accounts.passwords import PasswordChecksBusy
from sso.config import Settings
from sso.core.crypto import keyed_hash
from sso.core.events import current_context
from sso.web.errors import error_response
from sso.web.metrics import Metrics

log = logging.getLogger("sso.web.load_shedding")

WINDOW_SECONDS = 60
REDIS_RETRY_SECONDS = 30.0
REDIS_PREFIX = "sso:rate:"
# The attribute :func:`checks_password` sets on an endpoint, read by the line.
PASSWORD_CHECK_MARK = "sso_checks_password"
# Not counted per IP: health checks, metrics, static files, and the public cacheable documents
# (discovery, JWKS), which cost less to serve than to count.
EXEMPT_PREFIXES = ("/healthz", "/readyz", "/metrics", "/static/", "/.well-known/", "/jwks.json")
MAX_TOKEN_BODY = 64 * 1024


# ----------------------------------------------------------------------------- admission

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def checks_password(endpoint: Endpoint) -> Endpoint:
    """Mark a route's endpoint as one that hashes or verifies a password: its requests wait
    their turn in :class:`PasswordCheckAdmission`. Put it under the ``@router.post(...)``."""
    setattr(endpoint, PASSWORD_CHECK_MARK, True)
    return endpoint


def is_password_route(route: BaseRoute) -> bool:
    return bool(getattr(getattr(route, "endpoint", None), PASSWORD_CHECK_MARK, False))


def all_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, through included routers: this FastAPI keeps an included router whole
    (``original_router``) instead of copying its routes. Our routers are included without a
    prefix, so a route's own path is the path it answers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from all_routes(inner.routes)
        else:
            yield route


class LineRuntime(Protocol):
    """What the password line uses of the application's runtime
    (``sso.web.app_runtime.AppRuntime``, which is built on this module's counters)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def metrics(self) -> Metrics: ...


class PasswordCheckAdmission:
    """A bounded, thread-free line in front of the requests that hash a password.

    ``2 × cap`` of them run at a time (so one's database work overlaps another's hash; the
    hasher's own semaphore still lets only ``cap`` hash at once); up to
    ``password_check_queue`` more wait here as coroutines, holding no thread and no database
    connection, for at most ``password_check_max_wait`` seconds. Anything beyond that, or
    waiting longer, gets 503 with ``Retry-After`` at once."""

    def __init__(self, app: ASGIApp, *, runtime: LineRuntime) -> None:
        self.app = app
        settings = runtime.settings
        self.running = 2 * (settings.password_check_concurrency or (os.cpu_count() or 1))
        self.queue = max(0, settings.password_check_queue)
        self.max_wait = settings.password_check_max_wait
        # One semaphore per event loop (one per process under uvicorn; tests may run several).
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self.waiting = 0  # in the line
        self.inside = 0  # let in, running (hashing or around the hash)
        self._metrics = runtime.metrics
        # The marked routes of the application (read from its router at the first request:
        # routes are added after the middleware is declared).
        self._marked: list[BaseRoute] | None = None

    def _marked_routes(self, scope: Scope) -> list[BaseRoute]:
        if self._marked is None:
            app = scope.get("app")
            routes = getattr(getattr(app, "router", None), "routes", None) or []
            self._marked = [route for route in all_routes(routes) if is_password_route(route)]
        return self._marked

    def needs_line(self, scope: Scope) -> bool:
        """Whether this request goes to a route marked :func:`checks_password`."""
        if scope["type"] != "http":
            return False
        return any(route.matches(scope)[0] == Match.FULL for route in self._marked_routes(scope))

    def _report(self) -> None:
        """The line's state for /metrics, set when it changes (so every worker's gauge is
        current, whichever worker a scrape reaches)."""
        self._metrics.observe_password_line(self.inside + self.waiting, self.waiting)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        found = self._slots.get(loop)
        if found is None:
            found = self._slots[loop] = asyncio.Semaphore(self.running)
        return found

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, why: str) -> None:
        log.warning("password checks busy (%s): request refused with 503", why)
        response = error_response(
            Request(scope), 503, headers={"Retry-After": str(PasswordChecksBusy.retry_after)}
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.needs_line(scope):
            await self.app(scope, receive, send)
            return
        slots = self._semaphore()
        if slots.locked():
            if self.waiting >= self.queue:
                await self._refuse(scope, receive, send, f"{self.waiting} waiting")
                return
            self.waiting += 1
            self._report()
            try:
                await asyncio.wait_for(slots.acquire(), self.max_wait)
            except TimeoutError:
                await self._refuse(scope, receive, send, f"waited {self.max_wait} s")
                return
            finally:
                self.waiting -= 1
                self._report()
        else:
            await slots.acquire()
        self.inside += 1
        self._report()
        try:
            await self.app(scope, receive, send)
        finally:
            self.inside -= 1
            slots.release()
            self._report()


# ----------------------------------------------------------------------------- counters


class WindowCounters:
    """Fixed one-minute windows, counted in this process and added to Redis in batches.

    A request adds to the process's pending count and is judged on the last total Redis gave
    plus that pending count; at most every ``FLUSH_SECONDS`` the pending counts go to Redis in
    one pipelined round trip (INCRBY + EXPIRE per key) and the totals come back. So a request
    costs no Redis round trip of its own (bench/README.md measured ~0.9 ms of CPU for one), and
    a limit is enforced across processes at most ``FLUSH_SECONDS`` late. Without Redis, or
    while it cannot be reached (retried every 30 s), the counts stay per process."""

    FLUSH_SECONDS = 0.2

    def __init__(self, redis_url: str | None) -> None:
        self._redis_url = redis_url
        self._redis: Any = None
        self._redis_down_until = 0.0
        self._window = 0
        self._pending: dict[str, int] = {}
        self._shared: dict[str, int] = {}  # totals as Redis (or this process) last knew them
        self._flushed_at = 0.0
        self._flushing = False

    @staticmethod
    def window() -> tuple[int, int]:
        """(window number, seconds until it ends)."""
        now = time.time()
        number = int(now // WINDOW_SECONDS)
        return number, max(1, int((number + 1) * WINDOW_SECONDS - now + 0.999))

    def _client(self) -> Any:
        if self._redis is None:
            import redis.asyncio

            self._redis = redis.asyncio.Redis.from_url(
                str(self._redis_url), socket_connect_timeout=0.5, socket_timeout=0.5
            )
        return self._redis

    async def add(self, key: str, amount: int = 1) -> int:
        """Add ``amount`` to ``key``'s count in the current window; the count as known now."""
        number, _left = self.window()
        if number != self._window:
            self._window, self._pending, self._shared = number, {}, {}
        self._pending[key] = self._pending.get(key, 0) + amount
        if (
            self._redis_url
            and not self._flushing
            and time.monotonic() - self._flushed_at >= self.FLUSH_SECONDS
        ):
            await self._flush(number)
        return self._shared.get(key, 0) + self._pending.get(key, 0)

    async def _flush(self, number: int) -> None:
        self._flushing = True
        self._flushed_at = time.monotonic()
        batch, self._pending = self._pending, {}
        totals: dict[str, int] | None = None
        try:
            if time.monotonic() >= self._redis_down_until:
                pipe = self._client().pipeline(transaction=False)
                for key, amount in batch.items():
                    name = f"{REDIS_PREFIX}{key}:{number}"
                    pipe.incrby(name, amount)
                    pipe.expire(name, 2 * WINDOW_SECONDS)
                results = await pipe.execute()
                totals = {key: int(results[2 * i]) for i, key in enumerate(batch)}
        except Exception as exc:  # any Redis trouble: count here instead, retry later
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            self._redis = None
            log.warning(
                "Redis unreachable for rate limits (%s): counting per process", type(exc).__name__
            )
        finally:
            self._flushing = False
        if number != self._window:
            return  # the window ended meanwhile: these counts are history
        if totals is None:  # this process's own counts, then
            totals = {key: self._shared.get(key, 0) + amount for key, amount in batch.items()}
        self._shared.update(totals)


# ----------------------------------------------------------------------------- limits


def client_id_of(headers: Headers, body: bytes) -> str | None:
    """The ``client_id`` a /token request claims (Basic auth, or the form), unverified."""
    auth = headers.get("authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        name, sep, _secret = decoded.partition(":")
        return unquote_plus(name) if sep else None
    try:
        form = parse_qsl(body.decode("latin-1"), max_num_fields=64)
    except ValueError:
        return None
    for name, value in form:
        if name == "client_id":
            return value
    return None


class RateLimits:
    """The limits as a middleware; the lean lane of the token endpoints
    (:mod:`sso.web.token_lane`) counts through the same methods and, given the same
    ``counters`` by ``create_app``, in the same windows."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, counters: WindowCounters | None = None
    ) -> None:
        self.app = app
        self.per_ip = settings.rate_limit_ip_per_minute
        self.per_client = settings.rate_limit_client_per_minute
        self.counters = counters if counters is not None else WindowCounters(settings.redis_url)
        self._secret = settings.secret_key_bytes()

    def _key(self, kind: str, value: str) -> str:
        # Keyed hashes: neither IP addresses nor client ids are written to Redis in clear.
        return kind + ":" + keyed_hash(self._secret, value, purpose="rate:" + kind)[:32]

    def client_key(self, client_id: str) -> str:
        return self._key("client", client_id)

    async def ip_over_limit(self, ip: str | None) -> bool:
        """Count one request from ``ip``; whether it is over the per-IP limit."""
        if self.per_ip <= 0:
            return False
        return await self.counters.add(self._key("ip", ip or "unknown")) > self.per_ip

    async def refuse(self, scope: Scope, receive: Receive, send: Send, kind: str) -> None:
        """Answer 429 with ``Retry-After`` (seconds to the end of the window)."""
        _number, left = WindowCounters.window()
        log.info("rate limit per %s reached", kind)
        response = error_response(Request(scope), 429, headers={"Retry-After": str(left)})
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        if await self.ip_over_limit(current_context().ip):
            await self.refuse(scope, receive, send, "IP")
            return
        if self.per_client > 0 and path == "/token" and scope.get("method") == "POST":
            await self._token(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _token(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Read the (small) form body to find client_id, then hand the same messages on.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
            if size > MAX_TOKEN_BODY:
                break  # the endpoint itself refuses an oversized body
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        client_id = client_id_of(Headers(scope=scope), body)
        if not client_id:
            await self.app(scope, replay, send)
            return
        key = self.client_key(client_id)
        if await self.counters.add(key) > self.per_client:
            await self.refuse(scope, replay, send, "client")
            return
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, replay, send_status)
        finally:
            if status in (401, 429):  # not this client's doing: give the count back
                await self.counters.add(key, -1)
