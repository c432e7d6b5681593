"""The public documents (discovery, OAuth metadata, JWKS) answered ahead of the middleware stack.

Every relying party and API fetches these, often on every token check when it caches badly, so
they are the most frequent requests an identity provider gets; their bodies are bytes built
once (:mod:`sso.oidc.discovery`, :meth:`sso.oidc.keys.KeyService.fresh_jwks`). Going through
the whole stack (request context, CORS, rate limits, admission, FastAPI's routing, dependency
solving and response classes) cost several times what the answer itself costs
(bench/README.md). This pure ASGI middleware, installed outermost by ``create_app``, answers a
plain ``GET`` of those paths itself with what the stack would have sent:

- the same body, ``Content-Type`` and ``Cache-Control``, ``Access-Control-Allow-Origin: *``
  (and ``Access-Control-Expose-Headers`` when the request has an ``Origin``, as
  :mod:`sso.web.cors` does), the baseline security headers (:mod:`sso.web.security`, HSTS when
  the issuer is https) and ``X-Request-ID`` (the caller's when short and plain);
- a strong ``ETag`` and ``304 Not Modified`` for a matching ``If-None-Match`` (RFC 9110
  §13.1.2), so a relying party that revalidates gets no body;
- the same access-log line and the same metrics (:mod:`sso.web.middleware`).

The JWKS copy is revalidated here too when it is due (one small query every few seconds, in a
thread). While the database cannot be reached, the last copy this process published is served
(keys change rarely; relying parties go on verifying) and asked for again only every
``STALE_RETRY`` seconds, so an outage costs no request its connect timeout; a process that
never had a copy lets the route answer (503 with ``Retry-After``).

Anything else (another method, a preflight, an app with no runtime) goes on through the stack
unchanged: the routes in :mod:`sso.web.routes.discovery` remain the definition of these
endpoints and their OpenAPI description. Not rate-limited, like before: they cost less to serve
than to count.
"""

from __future__ import annotations

import hashlib
import logging
import time

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from sso.core.events import RequestContext, request_context
from sso.web.app_runtime import AppRuntime
from sso.web.deps import runtime_in
from sso.web.metrics import Metrics
from sso.web.middleware import REQUEST_ID_HEADER, log_access, request_id_from
from sso.web.security import BASELINE_HEADERS, HSTS, NON_HTML_CSP

DISCOVERY = "/.well-known/openid-configuration"
OAUTH_METADATA = "/.well-known/oauth-authorization-server"
JWKS = "/jwks.json"
EXPOSE = b"WWW-Authenticate, Retry-After, DPoP-Nonce"
STALE_RETRY = 5.0  # seconds between attempts to revalidate the JWKS while the database is down
log = logging.getLogger("sso.web.public_documents")
Headers = list[tuple[bytes, bytes]]


class _Document:
    """One body with its fixed response headers (and its ETag), built once per body."""

    __slots__ = ("body", "etag", "headers", "not_modified")

    def __init__(self, body: bytes, content_type: str, cache_control: str, common: Headers):
        self.body = body
        self.etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        cached = [(b"cache-control", cache_control.encode()), (b"etag", self.etag)]
        self.headers: Headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *cached,
            *common,
        ]
        self.not_modified: Headers = [*cached, *common]

    def matches(self, if_none_match: bytes) -> bool:
        candidates = [c.strip().removeprefix(b"W/") for c in if_none_match.split(b",")]
        return b"*" in candidates or self.etag in candidates


class PublicDocuments:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._runtime: AppRuntime | None = None
        self._metrics: Metrics | None = None
        self._common: Headers = []
        self._static: dict[str, _Document] = {}
        self._jwks: tuple[bytes, _Document] | None = None
        self._stale_until = 0.0

    def _resolve(self, scope: Scope) -> AppRuntime | None:
        runtime = runtime_in(scope.get("app"))
        if runtime is None:
            return None
        common: Headers = [(b"access-control-allow-origin", b"*")]
        common += [(name.lower().encode(), value.encode()) for name, value in BASELINE_HEADERS]
        common.append((b"content-security-policy", NON_HTML_CSP.encode()))
        if runtime.settings.cookie_secure:
            common.append((b"strict-transport-security", HSTS.encode()))
        docs = runtime.discovery
        json, cache = "application/json", "public, max-age=300"
        self._static = {
            DISCOVERY: _Document(docs[0], json, cache, common),
            OAUTH_METADATA: _Document(docs[1], json, cache, common),
        }
        self._common = common
        self._metrics = runtime.metrics
        self._runtime = runtime
        return runtime

    async def _document(self, runtime: AppRuntime, path: str) -> _Document | None:
        if path != JWKS:
            return self._static.get(path)
        keys = runtime.keys
        body = keys.cache.fresh_jwks()
        if body is None and time.monotonic() < self._stale_until:
            body = keys.cache.last_jwks()
        if body is None:
            try:
                body = await run_in_threadpool(keys.jwks)
            except SQLAlchemyError as exc:
                body = keys.cache.last_jwks()
                if body is None:
                    return None  # nothing to serve: the route answers (503)
                self._stale_until = time.monotonic() + STALE_RETRY
                log.warning("JWKS not revalidated (%s): serving the last copy", type(exc).__name__)
        cached = self._jwks
        if cached is None or cached[0] is not body:
            document = _Document(
                body, "application/jwk-set+json", "public, max-age=60", self._common
            )
            cached = self._jwks = (body, document)
        return cached[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if (
            scope["type"] != "http"
            or path not in (DISCOVERY, JWKS, OAUTH_METADATA)
            or scope["method"] != "GET"
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        runtime = self._runtime or self._resolve(scope)
        document = await self._document(runtime, path) if runtime is not None else None
        if document is None:
            await self.app(scope, receive, send)
            return
        await self._answer(scope, send, document, path, started)

    async def _answer(
        self, scope: Scope, send: Send, document: _Document, path: str, started: float
    ) -> None:
        request_id = incoming_origin = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value
            elif name == b"origin":
                incoming_origin = value
            elif name == b"if-none-match":
                if_none_match = value
        rid = request_id_from(request_id)
        status, headers, body = 200, document.headers, document.body
        if if_none_match is not None and document.matches(if_none_match):
            status, headers, body = 304, document.not_modified, b""
        extra = [(REQUEST_ID_HEADER.lower().encode(), rid.encode())]
        if incoming_origin is not None:
            extra.append((b"access-control-expose-headers", EXPOSE))
        await send({"type": "http.response.start", "status": status, "headers": headers + extra})
        await send({"type": "http.response.body", "body": body})
        # The access line carries the request id like any other (the IP is left out here: the
        # trusted-proxy rules live in the request middleware).
        token = request_context.set(RequestContext(request_id=rid))
        try:
            log_access(scope, status, started)
        finally:
            request_context.reset(token)
        if self._metrics is not None:
            self._metrics.observe_request("GET", path, status, time.perf_counter() - started)
