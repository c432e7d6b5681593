"""Audit event names (``noun.verb``) and the request context they are recorded with.

The request context (request id, client IP, user agent) is set once per request by the web
middleware in a ``ContextVar`` so services can record events without knowing about HTTP.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = "-"
    ip: str | None = None
    user_agent: str | None = None


request_context: ContextVar[RequestContext] = ContextVar(
    "request_context",
    default=RequestContext(),  # noqa: B039 (a frozen dataclass is immutable)
)


def current_context() -> RequestContext:
    return request_context.get()


# Names used across the code base; an event outside this list is still allowed, but these are
# the ones dashboards and tests rely on.
USER_LOGIN = "user.login"
USER_LOGIN_FAILED = "user.login_failed"
USER_LOGOUT = "user.logout"
USER_CREATED = "user.created"
USER_DISABLED = "user.disabled"
CONSENT_GRANTED = "consent.granted"
CODE_ISSUED = "code.issued"
CODE_REUSED = "code.reused"
TOKEN_ISSUED = "token.issued"
TOKEN_REVOKED = "token.revoked"
REFRESH_TOKEN_REUSED = "refresh_token.reused"
GRANT_REVOKED = "grant.revoked"
CLIENT_CREATED = "client.created"
CLIENT_SECRET_ROTATED = "client.secret_rotated"
CLIENT_AUTH_FAILED = "client.auth_failed"
KEY_CREATED = "key.created"
KEY_ROTATED = "key.rotated"
SESSION_ENDED = "session.ended"
ROLE_GRANTED = "role.granted"
BACKCHANNEL_LOGOUT_FAILED = "backchannel_logout.failed"
