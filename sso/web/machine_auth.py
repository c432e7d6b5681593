"""Who a machine caller is: a bearer access token from our own /token (``client_credentials``).

The machine-facing APIs (the Admin REST API, SCIM) are called by other systems, never by a
person's browser. A call carries ``Authorization: Bearer <access token>`` (RFC 6750 §2.1 only:
not in a query string, where it would land in logs, nor in a form body). The token must be
live (:func:`sso.oauth.introspection.live_access_token`: signature, expiry, not revoked, its
client active) and be a client's own token, not one a person granted.

:class:`MachineCaller` is what a route gets: the client, the scopes it may use now (the
token's scopes that the client still holds: removing a scope from a client takes effect at
once, not when its tokens expire) and the agency subtree the client is limited to
(``clients.admin_agency_id``), or None when it is not limited.

A refusal is :class:`MachineAuthError`: 401 ``invalid_token`` (or no error code when no token
was sent, RFC 6750 §3.1), 403 ``insufficient_scope`` with the scopes needed. It carries its
``WWW-Authenticate`` challenge and renders as an RFC 9457 problem; an API with another error
format (SCIM's) catches it and renders its own body with the same status and challenge.

Usage::

    AdminReader = Annotated[MachineCaller, Depends(require_scopes("admin:read"))]

    @router.get("/users")
    def list_users(caller: AdminReader, session: SessionDep) -> ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from sso.db.models import Client
from sso.oauth.client_auth import REALM
from sso.oauth.introspection import live_access_token
from sso.storage import directory as dir_repo
from sso.web.app_runtime import AppRuntime
from sso.web.deps import RuntimeDep, SessionDep
from sso.web.problems import Problem

ADMIN_READ = "admin:read"
ADMIN_WRITE = "admin:write"


@dataclass(frozen=True)
class MachineCaller:
    """A client calling with its own access token."""

    client: Client  # a copy attached to no session (the client cache's): read, do not change
    scopes: frozenset[str]
    # The agency the client is limited to and every agency below it; None: not limited.
    agency_id: int | None
    agencies: frozenset[int] | None
    token_id: str  # the access token's jti (for audit events; never the token)

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def limited(self) -> bool:
        return self.agencies is not None

    def has(self, scope: str) -> bool:
        return scope in self.scopes


class MachineAuthError(Problem):
    """An RFC 6750 §3 refusal: ``error`` is None when no token was sent at all."""

    def __init__(
        self,
        status: int,
        error: str | None,
        description: str = "",
        *,
        scope: str | None = None,
        client_id: str | None = None,
    ) -> None:
        self.error = error
        self.description = description
        self.scope = scope
        self.client_id = client_id  # known for insufficient_scope (for the audit event)
        extensions: dict[str, Any] = {}
        if error:
            extensions["error"] = error
        if scope:
            extensions["scope"] = scope
        super().__init__(
            status,
            description or "An access token is required.",
            code=error or "missing_token",
            headers={"WWW-Authenticate": self.challenge},
            **extensions,
        )

    @property
    def challenge(self) -> str:
        parts = [f'realm="{REALM}"']
        if self.error:
            parts.append(f'error="{self.error}"')
        if self.description:
            parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header (RFC 6750 §2.1)."""
    if not authorization or not authorization.strip():
        raise MachineAuthError(401, None)
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip() or " " in value.strip():
        raise MachineAuthError(400, "invalid_request", "Use the Bearer scheme.")
    return value.strip()


def authenticate(runtime: AppRuntime, session: Session, token: str) -> MachineCaller:
    """The caller behind ``token``, or :class:`MachineAuthError` (401)."""
    server = runtime.token_server
    live = live_access_token(session, server.tokens, token, load_user=False)
    if live is None:
        raise MachineAuthError(401, "invalid_token", "The access token is invalid or expired.")
    if live.grant.user_id is not None:
        # A person's token carries the person's consent, not an administrator's mandate:
        # people administer through the console, with a second factor.
        raise MachineAuthError(
            401, "invalid_token", "Only a client's own token (client_credentials) is accepted."
        )
    client = live.client
    scopes = frozenset(live.scopes) & frozenset(client.scopes)
    agency_id = client.admin_agency_id
    agencies: frozenset[int] | None = None
    if agency_id is not None:
        agencies = frozenset(dir_repo.subtree_ids(dir_repo.all_agencies(session), agency_id))
    return MachineCaller(client, scopes, agency_id, agencies, str(live.claims["jti"]))


def machine_caller(request: Request, runtime: RuntimeDep, session: SessionDep) -> MachineCaller:
    """FastAPI dependency: the authenticated machine caller (any scope)."""
    caller = authenticate(runtime, session, bearer_token(request.headers.get("authorization")))
    request.state.machine_caller = caller  # for middleware and error handlers (audit, limits)
    return caller


MachineCallerDep = Annotated[MachineCaller, Depends(machine_caller)]


def check_scopes(caller: MachineCaller, *needed: str) -> None:
    """Refuse (403 ``insufficient_scope``) a caller lacking any of ``needed``."""
    if any(s not in caller.scopes for s in needed):
        raise MachineAuthError(
            403,
            "insufficient_scope",
            "The access token lacks a scope this request needs.",
            scope=" ".join(needed),
            client_id=caller.client_id,
        )


def require_scopes(*needed: str) -> Callable[[MachineCaller], MachineCaller]:
    """A FastAPI dependency: the machine caller, refused unless it holds every scope in
    ``needed``."""

    def dependency(caller: MachineCallerDep) -> MachineCaller:
        check_scopes(caller, *needed)
        return caller

    return dependency


__all__ = [
    "ADMIN_READ",
    "ADMIN_WRITE",
    "MachineAuthError",
    "MachineCaller",
    "MachineCallerDep",
    "authenticate",
    "bearer_token",
    "check_scopes",
    "machine_caller",
    "require_scopes",
]
