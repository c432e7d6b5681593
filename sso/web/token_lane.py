"""The lean lane: ``POST /token``, ``/introspect``, ``/revoke`` and ``GET|POST /userinfo``
answered in raw ASGI ahead of the middleware stack and FastAPI (issue 17).

These are the machine-facing endpoints: relying parties and APIs call them on every token and
every API call, and through the stack each request paid four middlewares, Starlette's routing,
FastAPI's request and response classes and ``json.dumps`` around work that is small itself
(bench/README.md, fourth round). This middleware, installed outermost by ``create_app``, does
what the stack does for them, in one place:

- ``X-Request-ID`` (the caller's when short and plain) and the request context (request id,
  client IP by the same trusted-proxy rules, user agent) for services and log lines;
- the per-IP rate limit and, at ``/token``, the per-client one, counted in the same windows as
  :class:`sso.web.load_shedding.RateLimits` (``create_app`` hands both the same counters), the
  client's count given back on 401 and 429 as there; a refusal is the same 429 answer;
- the body read once (the form is parsed by :mod:`sso.oauth.requests` as before), then the
  protocol work in the token endpoints' thread pool through the functions the routes use
  (:func:`sso.web.routes.token.oauth_result`, :func:`~sso.web.routes.token.userinfo_claims`):
  client authentication, the secret-guessing throttle and every error keep their one
  definition there;
- the JSON rendered with orjson; ``Cache-Control: no-store``, ``WWW-Authenticate`` on a 401 and
  the error bodies of RFC 6749 §5.2 / RFC 6750 §3 as the routes send them; the security
  headers of :mod:`sso.web.security` (HSTS when the issuer is https) and CORS as
  :mod:`sso.web.cors` gives (``/introspect`` none);
- the same access-log line and the same request metrics; a database that cannot be reached is
  the same 503 with ``Retry-After`` (:mod:`sso.web.errors`).

Whatever is unusual goes through the stack untouched, before anything is read or counted: a
preflight or any other method, a body without ``Content-Length`` or longer than the endpoints
take (the stack's 400 and 413 answers), a mounted ``root_path``, an app without a runtime.
The routes in :mod:`sso.web.routes.token` remain the endpoints' definition and OpenAPI
description. None of these endpoints checks a password (no admission line applies).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.datastructures import URL, Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sso.config import Settings
from sso.core.events import RequestContext, request_context
from sso.oauth.requests import MAX_BODY_BYTES
from sso.oidc.provider import BearerError
from sso.web.app_runtime import AppRuntime
from sso.web.cors import CORS_PATHS
from sso.web.deps import runtime_in
from sso.web.errors import database_error_handler, server_error_handler
from sso.web.load_shedding import RateLimits, WindowCounters, client_id_of
from sso.web.metrics import Metrics
from sso.web.middleware import (
    REQUEST_ID_HEADER,
    RequestContextMiddleware,
    log_access,
    request_id_from,
)
from sso.web.routes.token import oauth_result, userinfo_claims
from sso.web.security import BASELINE_HEADERS, HSTS, NON_HTML_CSP, apply_baseline_headers

log = logging.getLogger("sso.web.token_lane")

ENDPOINTS: dict[tuple[str, str], str] = {
    ("/token", "POST"): "token",
    ("/introspect", "POST"): "introspection",
    ("/revoke", "POST"): "revocation",
    ("/userinfo", "GET"): "userinfo",
    ("/userinfo", "POST"): "userinfo",
}
EXPOSE = b"WWW-Authenticate, Retry-After, DPoP-Nonce"
USER_AGENT_MAX = 512
URL_MEMORY = 256  # distinct request URLs remembered (see TokenLane.url_of)
CLIENT_GONE = 499  # logged when the caller went away before its body arrived (nginx's code)
Headers_ = list[tuple[bytes, bytes]]
_JSON: Headers_ = [(b"content-type", b"application/json")]
_NO_STORE: Headers_ = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


class TokenLane:
    def __init__(self, app: ASGIApp, *, counters: WindowCounters | None = None) -> None:
        self.app = app
        self._counters = counters
        self._runtime: AppRuntime | None = None
        self._metrics: Metrics | None = None
        self._limits: RateLimits | None = None
        self._context: RequestContextMiddleware | None = None
        self._trusted = False
        self._hsts = False
        self._security: Headers_ = []
        self._urls: dict[tuple[Any, ...], str] = {}

    def _resolve(self, scope: Scope) -> AppRuntime | None:
        runtime = runtime_in(scope.get("app"))
        if runtime is None:
            return None
        settings: Settings = runtime.settings
        self._hsts = bool(settings.cookie_secure)
        security = [(name.lower().encode(), value.encode()) for name, value in BASELINE_HEADERS]
        security.append((b"content-security-policy", NON_HTML_CSP.encode()))
        if self._hsts:
            security.append((b"strict-transport-security", HSTS.encode()))
        self._security = security
        self._limits = RateLimits(self.app, settings=settings, counters=self._counters)
        self._context = RequestContextMiddleware(
            self.app, trusted_proxies=settings.trusted_proxy_list
        )
        self._trusted = bool(self._context.trusted_proxies)
        self._metrics = runtime.metrics
        self._runtime = runtime
        return runtime

    def url_of(self, scope: Scope) -> str:
        """The request URL as Starlette builds it (host header checked, else the server
        address), remembered per (scheme, host, server, path, query): callers send the same
        few, and building it was a measurable share of the event loop's time."""
        host = next((v for k, v in scope["headers"] if k == b"host"), None)
        server = scope.get("server")
        key = (
            scope.get("scheme"),
            host,
            tuple(server) if server else None,
            scope["path"],
            scope.get("query_string"),
        )
        url = self._urls.get(key)
        if url is None:
            if len(self._urls) >= URL_MEMORY:
                self._urls.clear()
            url = self._urls[key] = str(URL(scope=scope))
        return url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        endpoint = ENDPOINTS.get((path, method))
        if endpoint is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        runtime = self._runtime or self._resolve(scope)
        if runtime is None:
            await self.app(scope, receive, send)
            return
        request_id = user_agent = length = authorization = content_type = None
        origin = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"authorization":
                authorization = authorization if authorization is not None else value
            elif name == b"content-type":
                content_type = content_type if content_type is not None else value
            elif name == b"x-request-id":
                request_id = request_id if request_id is not None else value
            elif name == b"user-agent":
                user_agent = user_agent if user_agent is not None else value
            elif name == b"origin":
                origin = True
        if method == "POST" and (
            length is None or not length.isdigit() or int(length) > MAX_BODY_BYTES
        ):
            await self.app(scope, receive, send)  # the stack's 400 / 413 / streamed body
            return

        started = time.perf_counter()
        rid = request_id_from(request_id)
        scope.setdefault("state", {})["request_id"] = rid
        assert self._context is not None
        peer = scope.get("client")
        ip = (
            self._context.client_ip(scope, Headers(scope=scope))
            if self._trusted
            else (peer[0] if peer else None)
        )
        agent = user_agent.decode("latin-1")[:USER_AGENT_MAX] if user_agent else None
        token = request_context.set(RequestContext(request_id=rid, ip=ip, user_agent=agent))
        exchange = _Exchange(self, scope, receive, send, rid, origin and path in CORS_PATHS)
        try:
            await exchange.run(runtime, endpoint, ip, authorization, content_type)
        finally:
            log_access(scope, exchange.status, started)
            if self._metrics is not None:
                self._metrics.observe_request(
                    method, path, exchange.status, time.perf_counter() - started
                )
            request_context.reset(token)


class _Exchange:
    """One request through the lane: its answer and the status it ended with."""

    __slots__ = ("cors", "lane", "receive", "rid", "scope", "send", "status")

    def __init__(
        self, lane: TokenLane, scope: Scope, receive: Receive, send: Send, rid: str, cors: bool
    ) -> None:
        self.lane, self.scope, self.receive, self.send = lane, scope, receive, send
        self.rid, self.cors = rid, cors
        self.status = 500

    async def run(
        self,
        runtime: AppRuntime,
        endpoint: str,
        ip: str | None,
        authorization: bytes | None,
        content_type: bytes | None,
    ) -> None:
        limits = self.lane._limits
        assert limits is not None
        if await limits.ip_over_limit(ip):
            await limits.refuse(self.scope, self.receive, self._send_wrapped, "IP")
            return
        body = await self._body()
        if body is None:
            self.status = CLIENT_GONE
            return
        client_key = None
        if endpoint == "token" and limits.per_client > 0:
            client_id = client_id_of(Headers(scope=self.scope), body)
            if client_id:
                client_key = limits.client_key(client_id)
                if await limits.counters.add(client_key) > limits.per_client:
                    await limits.refuse(
                        self.scope, self._replay(body), self._send_wrapped, "client"
                    )
                    return
        try:
            if endpoint == "userinfo":
                await self._userinfo(runtime, authorization, content_type, body)
            else:
                await self._oauth(runtime, endpoint, body)
        except Exception as exc:  # rendered as the stack's handlers render it
            await self._error(exc, body)
        finally:
            if client_key is not None and self.status in (401, 429):
                await limits.counters.add(client_key, -1)  # not this client's doing

    async def _body(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _replay(self, body: bytes) -> Receive:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return await self.receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return receive

    async def _oauth(self, runtime: AppRuntime, endpoint: str, body: bytes) -> None:
        scope = self.scope
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        url = self.lane.url_of(scope)
        result = await oauth_result(endpoint, runtime, scope["method"], url, headers, body)
        extra = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in result.headers
            if name.lower() != "content-type"
        ]
        if isinstance(result.body, dict):
            await self._answer(result.status, orjson.dumps(result.body), _JSON + extra)
        else:
            await self._answer(result.status, result.body.encode(), extra)

    async def _userinfo(
        self,
        runtime: AppRuntime,
        authorization: bytes | None,
        content_type: bytes | None,
        body: bytes,
    ) -> None:
        try:
            claims = await userinfo_claims(
                runtime,
                authorization.decode("latin-1") if authorization is not None else None,
                content_type.decode("latin-1") if content_type is not None else None,
                body,
            )
        except BearerError as exc:
            challenge = (b"www-authenticate", exc.challenge.encode("latin-1"))
            await self._answer(exc.status, orjson.dumps(exc.body), _JSON + _NO_STORE + [challenge])
            return
        await self._answer(200, orjson.dumps(claims), _JSON + _NO_STORE)

    async def _answer(self, status: int, body: bytes, headers: Headers_) -> None:
        out = [
            *headers,
            (b"content-length", str(len(body)).encode()),
            (REQUEST_ID_HEADER.lower().encode(), self.rid.encode()),
            *self.lane._security,
        ]
        if self.cors:
            out += [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", EXPOSE),
            ]
        self.status = status
        await self.send({"type": "http.response.start", "status": status, "headers": out})
        await self.send({"type": "http.response.body", "body": body})

    async def _send_wrapped(self, message: Message) -> None:
        """For answers made by the stack's own functions (429, 503, 500): the headers the
        request middleware and CORS would add."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = MutableHeaders(scope=message)
            if self.cors:
                headers["Access-Control-Allow-Origin"] = "*"
                headers["Access-Control-Expose-Headers"] = EXPOSE.decode()
            headers[REQUEST_ID_HEADER] = self.rid
            apply_baseline_headers(headers, hsts=self.lane._hsts)
        await self.send(message)

    async def _error(self, exc: Exception, body: bytes) -> None:
        request = Request(self.scope, self._replay(body))
        response: Any
        if _is_database_error(exc):
            response = await database_error_handler(request, exc)
        else:
            response = await server_error_handler(request, exc)
        await response(self.scope, self._replay(body), self._send_wrapped)


def _is_database_error(exc: Exception) -> bool:
    from sqlalchemy import exc as sa_exc

    return isinstance(exc, sa_exc.DBAPIError | sa_exc.TimeoutError | sa_exc.DisconnectionError)
