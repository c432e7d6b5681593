"""The token endpoint's grants (RFC 6749 §4.1, §4.4, §6) and PKCE (RFC 7636, RFC 9700 §2.1.1).

Authorization code, checked in this order: the client authenticates (its registered method);
the code exists and was issued to this client; ``redirect_uri`` is exactly the one of the
authorization request when that request carried one (RFC 6749 §4.1.3: a plain OAuth request
that omitted it, using the one registered URI, need not name it here); PKCE (S256 only; required for public clients; a ``code_verifier`` for a
code issued without a challenge is refused); then the code is consumed atomically. A code
consumed before means it was replayed: the whole grant is revoked, so the access and refresh
tokens of the first redemption stop working, and the answer is ``invalid_grant``.

Refresh tokens rotate on every use. Presenting one that was already rotated, while its grant is
live, is a reuse: it revokes the grant (all its refresh tokens, and its access tokens at
introspection/userinfo) and records ``refresh_token.reused``. A token that is revoked (logout,
revocation, its person disabled) or expired is refused with ``invalid_grant`` and nothing else. ``scope`` may only
narrow; the new refresh token keeps the original scope and the original expiry.

Client credentials: no person, no refresh token; scopes are the client's registered non-person
scopes (a request for ``openid``, ``profile``… is ``invalid_scope``). Each exchange is a grant of
its own, so its tokens can be revoked like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidScopeError,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from sqlalchemy.orm import Session

from sso.core import events
from sso.core.clock import now
from sso.core.crypto import keyed_hash
from sso.db.models import AuthorizationCode, Client, Grant, RefreshToken, User
from sso.oauth.clients import AUTH_METHODS, SCOPES
from sso.oauth.requests import OAuthRequest
from sso.oauth.tokens import token_response
from sso.storage import audit
from sso.storage import grants as grant_repo
from sso.storage import users as user_repo

if TYPE_CHECKING:
    from sso.oauth.server import ClientAdapter, TokenServer

PERSON_SCOPES = frozenset(SCOPES)


def issues_refresh_token(client: Client, scope: str) -> bool:
    """Whether an authorization-code exchange gets a refresh token.

    Only for clients registered with the ``refresh_token`` grant type, and then: for an
    OpenID Connect request (scope has ``openid``) only when ``offline_access`` was granted
    (OIDC Core §11: the person agreed to access while they are not logged in); for a plain
    OAuth request (no ``openid``) always.
    """
    if "refresh_token" not in client.grant_types:
        return False
    scopes = scope.split()
    return "offline_access" in scopes or "openid" not in scopes


class PKCE(CodeChallenge):  # type: ignore[misc]
    """RFC 7636 with S256 only (``plain`` refused, RFC 9700 §2.1.1); required for public
    clients, accepted for confidential ones."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        code: _Code = grant.request.authorization_code
        if code.code_challenge and code.code_challenge_method != "S256":
            raise InvalidGrantError("The code challenge method is not supported.")
        if grant.request.auth_method == "none" and not code.code_challenge:
            raise InvalidGrantError("Public clients must use PKCE.")
        super().validate_code_verifier(grant, result)


class _Code:
    """Authlib's view of an authorization code row."""

    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str | None:
        # None (omitted at /authorize): Authlib then accepts a token request without one.
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


class _Refresh:
    """Authlib's view of a refresh token row."""

    def __init__(self, row: RefreshToken, grant: Grant) -> None:
        self.row = row
        self.grant = grant

    def check_client(self, client: ClientAdapter) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope


class _Common:
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    GRANT_TYPE: str  # set by the Authlib grant class
    request: OAuthRequest
    server: TokenServer

    @property
    def db(self) -> Session:
        return self.request.db

    def _client_row(self) -> Client:
        row: Client = self.request.client.row
        return row

    def _live_user(self, grant: Grant) -> User:
        user = user_repo.get(self.db, grant.user_id) if grant.user_id else None
        if user is None or not user.is_active:
            raise InvalidGrantError("The person of this grant cannot receive tokens.")
        return user

    def _revoke_on_error(self, grant_id: str, event: str) -> None:
        """After the failed request is rolled back: revoke the grant and record why."""
        client_id = self.request.client.client_id if self.request.client else None

        def revoke(session: Session) -> None:
            revoked = grant_repo.revoke_grant(session, grant_id)
            audit.record(session, event, outcome="failure", client_id=client_id,
                         target_type="grant", target_id=grant_id)
            if revoked:
                audit.record(session, events.GRANT_REVOKED, client_id=client_id,
                             target_type="grant", target_id=grant_id, reason=event)

        self.request.on_error.append(revoke)

    def _issued(self, grant: Grant, user: User | None, scope: str, *, new_grant: bool = False,
                **extra: Any) -> dict[str, Any]:
        """The token response; the ``token.issued`` audit row is written with it, and with a
        ``new_grant`` (not written yet) the grant too, in the same statement."""
        client = self._client_row()
        tokens = self.server.tokens
        access = tokens.access_token(self.db, client=client, grant=grant, scope=scope)
        refresh = extra.pop("refresh", None)
        body = token_response(access, scope, refresh)
        self.request.user = user
        self.request.context.update(grant=grant, user=user, client=client, **extra)
        event = audit.event_values(
            events.TOKEN_ISSUED, actor_id=user.id if user else None, client_id=client.client_id,
            target_type="grant", target_id=grant.id, grant_type=self.GRANT_TYPE,
            refresh_token=refresh is not None,
        )
        if new_grant:
            grant_repo.insert_grant(self.db, grant, event)
        else:
            audit.write(self.db, event)
        return body


class AuthorizationCodeGrant(_Common, grants.AuthorizationCodeGrant):  # type: ignore[misc]
    def query_authorization_code(self, code: str, client: ClientAdapter) -> _Code | None:
        row = grant_repo.get_code(self.db, keyed_hash(self.server.secret_key, code, "code"))
        if row is None or row.client_id != client.get_client_id():
            return None
        return _Code(row)

    @hooked  # type: ignore[untyped-decorator]
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        code: _Code = self.request.authorization_code
        result = grant_repo.consume_code(self.db, code.row.code_hash)
        if result.status == "reused":
            self._revoke_on_error(code.row.grant_id, events.CODE_REUSED)
            raise InvalidGrantError("The authorization code was already used.")
        if result.status != "ok":
            raise InvalidGrantError("The authorization code expired.")
        grant = grant_repo.get_grant(self.db, code.row.grant_id)
        if grant is None or grant.revoked_at is not None:
            raise InvalidGrantError("The grant of this code was revoked.")
        user = self._live_user(grant)
        client = self._client_row()
        refresh = None
        if issues_refresh_token(client, grant.scope):
            refresh = self.server.tokens.refresh_token(
                self.db, client=client, grant=grant, scope=grant.scope
            )
        body = self._issued(grant, user, grant.scope, refresh=refresh, nonce=code.row.nonce)
        return 200, body, list(self.TOKEN_RESPONSE_HEADER)


class RefreshTokenGrant(_Common, grants.RefreshTokenGrant):  # type: ignore[misc]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> _Refresh | None:
        token_hash = self.server.tokens.hash_refresh_token(refresh_token)
        found = grant_repo.refresh_token_with_grant(self.db, token_hash)
        # Another client's token is unknown to this one (and never revokes the owner's grant).
        if found is None or found.token.client_id != self.request.client.get_client_id():
            return None
        row, grant = found.token, found.grant
        self._refuse(grant_repo.refresh_token_status(found, now()), grant.id)
        return _Refresh(row, grant)

    def _refuse(self, status: str, grant_id: str) -> None:
        """Only a reuse revokes the grant and is recorded; the rest are ordinary refusals."""
        if status == grant_repo.LIVE:
            return
        if status == grant_repo.REUSED:
            self._revoke_on_error(grant_id, events.REFRESH_TOKEN_REUSED)
            raise InvalidGrantError("The refresh token was already used.")
        if status == grant_repo.EXPIRED:
            raise InvalidGrantError("The refresh token expired.")
        raise InvalidGrantError("The refresh token was revoked.")

    @hooked  # type: ignore[untyped-decorator]
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        presented: _Refresh = self.request.refresh_token
        row, grant = presented.row, presented.grant
        # Another request may have rotated it a moment ago (the same token used twice: reuse)
        # or revoked it (a logout: an ordinary refusal).
        status = grant_repo.consume_refresh_token(self.db, row.token_hash)
        self._refuse(grant_repo.EXPIRED if status == grant_repo.UNKNOWN else status, grant.id)
        user = self._live_user(grant)
        requested = self.request.payload.scope
        scope = " ".join(dict.fromkeys(requested.split())) if requested else row.scope
        refresh = self.server.tokens.refresh_token(
            self.db, client=self._client_row(), grant=grant, scope=row.scope,
            expires_at=row.expires_at,
        )
        body = self._issued(grant, user, scope, refresh=refresh)
        return 200, body, list(self.TOKEN_RESPONSE_HEADER)


class ClientCredentialsGrant(_Common, grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE) or client.row.is_public:
            raise UnauthorizedClientError("The client may not use client_credentials.")
        self.request.client = client
        allowed = [s for s in client.row.scopes if s not in PERSON_SCOPES]
        requested = self.request.payload.scope
        if requested:
            wanted = list(dict.fromkeys(requested.split()))
            if any(s not in allowed for s in wanted):
                raise InvalidScopeError()
            self.request.scope = " ".join(wanted)
        else:
            self.request.scope = " ".join(allowed)

    @hooked  # type: ignore[untyped-decorator]
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client = self._client_row()
        scope: str = self.request.scope
        grant = grant_repo.new_grant(client_id=client.client_id, user_id=None, scope=scope)
        body = self._issued(grant, None, scope, new_grant=True)
        return 200, body, list(self.TOKEN_RESPONSE_HEADER)


__all__ = [
    "PKCE",
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "RefreshTokenGrant",
    "issues_refresh_token",
]
