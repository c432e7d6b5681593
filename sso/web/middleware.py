"""The one request middleware: request id, request context, body limit, access log.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: that one copies every response through a
memory stream and breaks context variables). Per HTTP request it

- takes the caller's ``X-Request-ID`` when it is short and plain (``[A-Za-z0-9-]{1,64}``),
  otherwise makes one, and returns it as ``X-Request-ID``; it is also on
  ``request.state.request_id`` for error handlers that run outside this middleware;
- sets :data:`sso.core.events.request_context` (request id, client IP, user agent) so services
  and log lines know the request without knowing HTTP. The IP is the peer address;
  ``X-Forwarded-For`` is honoured only when the peer is one of ``trusted_proxies`` (addresses
  or networks), read from the right, skipping our own proxies, so a client cannot forge it;
- refuses a body over ``max_body_size`` bytes with 413: at once when ``Content-Length`` says so,
  and by counting when the body streams in (raised as :class:`RequestBodyTooLarge`, an
  ``HTTPException`` that the error handlers render as a page or JSON). A route whose endpoint
  is marked with :func:`body_limit` (an upload) takes bodies up to its own limit instead, and
  refuses a larger one itself: the middleware reads and drops the rest of the body (so a
  browser that is still sending sees the answer, not a reset connection) and hands the route a
  body that raises :class:`RequestBodyTooLarge` when read. The route is looked up only when a
  body is larger than the default, so ordinary requests pay nothing for this;
- puts the security headers on every response (:func:`sso.web.security.apply_baseline_headers`:
  pages rendered by templates set their own CSP with a nonce; JSON, redirects, 404s, static
  files and errors get ``nosniff``, framing refused, ``Referrer-Policy`` and a CSP too, and
  HSTS when the issuer is https);
- counts the request for /metrics by route template (:mod:`sso.web.metrics`);
- writes one access line: method, path (never the query string, which carries codes and
  states), status, duration in ms.

Settings and metrics come from ``scope["app"].state.runtime`` (Starlette puts the application
in the scope before any middleware runs); an app without a runtime gets the headers without
HSTS and no metrics.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sso.core.events import RequestContext, request_context
from sso.web.deps import runtime_in
from sso.web.metrics import UNMATCHED, Metrics
from sso.web.security import apply_baseline_headers

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
# A body over a route's own limit is read and dropped up to this many bytes before the route
# answers; beyond it the connection is simply closed after the answer.
DRAIN_LIMIT = 64 * 1024 * 1024
BODY_LIMIT_ATTRIBUTE = "sso_max_body_size"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_USER_AGENT_MAX = 512

access_log = logging.getLogger("sso.access")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RequestBodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Request body too large")


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def body_limit(max_bytes: int) -> Callable[[Endpoint], Endpoint]:
    """Mark a route's endpoint as taking bodies up to ``max_bytes`` (instead of the default).

    The route must answer a :class:`RequestBodyTooLarge` raised while it reads the body itself
    (with a page saying what the limit is); other routes keep the small default limit."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, BODY_LIMIT_ATTRIBUTE, max_bytes)
        return endpoint

    return mark


def marked_routes(routes: Iterable[Any]) -> list[Any]:
    """The routes, among ``routes`` and the routers included in them, whose endpoint was
    marked with :func:`body_limit` (read once per app: routes do not change once serving).

    Included routers are walked through whatever holds their routes (``original_router`` for
    FastAPI's included routers, ``routes`` for mounts and plain routers); a marked route is
    matched on its own path, so it must be included without a prefix (ours all are)."""
    found: list[Any] = []
    for route in routes:
        if isinstance(getattr(getattr(route, "endpoint", None), BODY_LIMIT_ATTRIBUTE, None), int):
            found.append(route)
        inner = getattr(route, "original_router", None)
        children = getattr(inner if inner is not None else route, "routes", None)
        if isinstance(children, list) and children:
            found.extend(marked_routes(children))
    return found


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a request body, at most ``budget`` bytes."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))


async def _refusing_receive() -> Message:
    raise RequestBodyTooLarge()


def _networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: Iterable[str] = (),
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.app = app
        self.trusted_proxies = _networks(trusted_proxies)
        self.max_body_size = max_body_size
        self._resolved = False
        self._marked: list[Any] | None = None
        self._hsts = False
        self._metrics: Metrics | None = None

    def _resolve(self, scope: Scope) -> None:
        """Read the deployment's settings and metrics once (the app is built by then)."""
        runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
        settings = getattr(runtime, "settings", None)
        if settings is not None:
            self._hsts = bool(settings.cookie_secure)
        typed = runtime_in(scope.get("app"))
        if typed is not None:
            self._metrics = typed.metrics
        self._resolved = True

    # ------------------------------------------------------------------ helpers
    def route_body_limit(self, scope: Scope) -> int:
        """The limit of the marked route serving ``scope``; 0 when it is not marked."""
        if self._marked is None:
            app = scope.get("app")
            self._marked = marked_routes(getattr(getattr(app, "router", None), "routes", ()))
        for route in self._marked:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return int(getattr(route.endpoint, BODY_LIMIT_ATTRIBUTE))
        return 0

    def _trusted(self, address: str | None) -> bool:
        if not address or not self.trusted_proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    def client_ip(self, scope: Scope, headers: Headers) -> str | None:
        client = scope.get("client")
        peer: str | None = client[0] if client else None
        if not self._trusted(peer):
            return peer
        hops = [h.strip() for v in headers.getlist("x-forwarded-for") for h in v.split(",")]
        ip = peer
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # garbage: stop at the last address we could vouch for
            ip = hop
            if not self._trusted(hop):
                break
        return ip

    @staticmethod
    def request_id(headers: Headers) -> str:
        return request_id_from(headers.get("x-request-id"))

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        if not self._resolved:
            self._resolve(scope)
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        headers = Headers(scope=scope)
        rid = self.request_id(headers)
        scope.setdefault("state", {})["request_id"] = rid
        context = RequestContext(
            request_id=rid,
            ip=self.client_ip(scope, headers),
            user_agent=(headers.get("user-agent") or "")[:_USER_AGENT_MAX] or None,
        )
        token = request_context.set(context)
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                response_headers = MutableHeaders(scope=message)
                response_headers[REQUEST_ID_HEADER] = rid
                apply_baseline_headers(response_headers, hsts=self._hsts)
            await send(message)

        received = 0
        limit = self.max_body_size
        own_limit: int | None = None  # the route's, looked up once the default is passed
        refused = False

        async def receive_limited() -> Message:
            nonlocal received, limit, own_limit, refused
            if refused:
                raise RequestBodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and own_limit is None:
                    own_limit = self.route_body_limit(scope)
                    limit = max(limit, own_limit)
                if received > limit:
                    if own_limit and message.get("more_body", False):
                        refused = True  # a marked route answers; let the browser finish
                        await _drain(receive, DRAIN_LIMIT - received)
                    raise RequestBodyTooLarge()
            return message

        try:
            declared = self._declared_length(headers)
            if declared is not None and declared > self.max_body_size:
                own_limit = self.route_body_limit(scope)
                limit = max(limit, own_limit)
            if declared is not None and declared > limit:
                if own_limit and declared <= DRAIN_LIMIT:
                    await _drain(receive, declared)
                    await self.app(scope, _refusing_receive, send_wrapper)
                else:
                    await self._send_too_large(send_wrapper)
            else:
                await self.app(scope, receive_limited, send_wrapper)
        except RequestBodyTooLarge:
            # Raised while no exception handler was in the way (e.g. a bare ASGI route).
            if response_started:
                raise
            await self._send_too_large(send_wrapper)
        finally:
            log_access(scope, status, started)
            if self._metrics is not None:
                self._observe(self._metrics, scope, root_path, status, started)
            request_context.reset(token)

    def _observe(
        self, metrics: Metrics, scope: Scope, root_path: str, status: int, started: float
    ) -> None:
        route = _route_template(scope, root_path)
        metrics.observe_request(
            scope.get("method", "-"), route, status, time.perf_counter() - started
        )

    @staticmethod
    def _declared_length(headers: Headers) -> int | None:
        length = headers.get("content-length")
        if length is None:
            return None
        try:
            return int(length)
        except ValueError:
            return None

    @staticmethod
    async def _send_too_large(send: Send) -> None:
        body = json.dumps(
            {"error": "invalid_request", "error_description": "request body too large"}
        ).encode()
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def request_id_from(incoming: str | bytes | None) -> str:
    """The caller's ``X-Request-ID`` when short and plain, otherwise a new one."""
    if isinstance(incoming, bytes):
        incoming = incoming.decode("latin-1")
    if incoming and _REQUEST_ID.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)


def log_access(scope: Scope, status: int, started: float) -> None:
    """One access line: method, path (never the query string), status, duration in ms."""
    level = logging.ERROR if status >= 500 else logging.INFO
    if not access_log.isEnabledFor(level):  # SSO_LOG_LEVEL=WARNING: nothing to build
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    method: str = scope.get("method", "-")
    path: str = scope.get("path", "-")
    extra: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
    }
    access_log.log(level, "%s %s %s %s ms", method, path, status, duration_ms, extra=extra)


def _route_template(scope: Scope, root_path: str) -> str:
    """The path template of the route that served (or would have served) this request.

    Set by the router when it matched; for a request answered before routing (a rate limit, an
    oversized body) or by a mounted app (static files), the routes are asked, with the scope as
    it came in. Never the raw path: ids and codes make no labels."""
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        incoming = {**scope, "root_path": root_path}
        for candidate in getattr(getattr(app, "router", None), "routes", ()):
            match, _ = candidate.matches(incoming)
            if match is not Match.NONE:
                route = candidate
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED
