"""CORS for the endpoints a browser app (SPA) calls directly: discovery, JWKS, ``/token``,
``/userinfo`` and ``/revoke``.

They answer any origin with ``Access-Control-Allow-Origin: *`` and never with credentials:
none of them reads a cookie (a code is bound to its client and PKCE verifier, userinfo takes a
bearer token), so letting a page on another origin call them grants nothing it could not do
from a server; this is node-oidc-provider's default as well. Pages (``/authorize``, login,
``/account``, ``/admin``) and ``/introspect`` (for confidential resource servers only) get no CORS
headers, so browsers keep refusing cross-origin reads of them.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORS_PATHS = frozenset(
    {
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/jwks.json",
        "/token",
        "/userinfo",
        "/revoke",
    }
)
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, DPoP"
MAX_AGE = "600"


class CORSMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in CORS_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "origin" not in headers:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = "*"
                out["Access-Control-Expose-Headers"] = "WWW-Authenticate, Retry-After, DPoP-Nonce"
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                    (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                    (b"access-control-max-age", MAX_AGE.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
