"""The authorization code grant at /token (RFC 6749 §4.1.3) with PKCE (RFC 7636, RFC 9700
§2.1.1).

Checked in this order: the client authenticates (its registered method); the code exists and
was issued to this client; ``redirect_uri`` is exactly the one of the authorization request
when that request carried one (RFC 6749 §4.1.3: a plain OAuth request that omitted it, using the
one registered URI, need not name it here); PKCE (S256 only; required for public clients; a
``code_verifier`` for a code issued without a challenge is refused); then the code is consumed
atomically. A code consumed before means it was replayed: the whole grant is revoked, so the
access and refresh tokens of the first redemption stop working, and the answer is
``invalid_grant``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, grants
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge

from sso.core.crypto import keyed_hash
from sso.core.events import Event
from sso.db.models import AuthorizationCode
from sso.oauth.client_auth import ClientAdapter
from sso.oauth.grants.base import TokenGrant
from sso.storage import grants as grant_repo


class PKCE(CodeChallenge):  # type: ignore[misc]
    """RFC 7636 with S256 only (``plain`` refused, RFC 9700 §2.1.1); required for public
    clients, accepted for confidential ones."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        code: StoredCode = grant.request.authorization_code
        if code.code_challenge and code.code_challenge_method != "S256":
            raise InvalidGrantError("The code challenge method is not supported.")
        if grant.request.auth_method == "none" and not code.code_challenge:
            raise InvalidGrantError("Public clients must use PKCE.")
        super().validate_code_verifier(grant, result)


class StoredCode:
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


class AuthorizationCodeGrant(TokenGrant, grants.AuthorizationCodeGrant):  # type: ignore[misc]
    def query_authorization_code(self, code: str, client: ClientAdapter) -> StoredCode | None:
        row = grant_repo.get_code(self.db, keyed_hash(self.server.secret_key, code, "code"))
        if row is None or row.client_id != client.get_client_id():
            return None
        return StoredCode(row)

    @hooked  # type: ignore[untyped-decorator]
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        code: StoredCode = self.request.authorization_code
        result = grant_repo.consume_code(self.db, code.row.code_hash)
        if result.status == "reused":
            self.revoke_grant_on_error(code.row.grant_id, Event.CODE_REUSED)
            raise InvalidGrantError("The authorization code was already used.")
        if result.status != "ok":
            raise InvalidGrantError("The authorization code expired.")
        grant = grant_repo.get_grant(self.db, code.row.grant_id)
        if grant is None or grant.revoked_at is not None:
            raise InvalidGrantError("The grant of this code was revoked.")
        body = self.issue_for_person(grant, nonce=code.row.nonce)
        return 200, body, list(self.TOKEN_RESPONSE_HEADER)


__all__ = ["PKCE", "AuthorizationCodeGrant", "StoredCode"]
