"""The client credentials grant at /token (RFC 6749 §4.4).

No person, no refresh token; scopes are the client's registered non-person scopes (a request
for ``openid``, ``profile``… is ``invalid_scope``). Each exchange is a grant of its own, so its
tokens can be revoked like any other. Public clients may not use it.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidScopeError, UnauthorizedClientError, grants
from authlib.oauth2.rfc6749.hooks import hooked

from sso.oauth.grants.base import PERSON_SCOPES, TokenGrant
from sso.storage import grants as grant_repo


class ClientCredentialsGrant(TokenGrant, grants.ClientCredentialsGrant):  # type: ignore[misc]
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
        client = self.client_row()
        scope: str = self.request.scope
        grant = grant_repo.new_grant(client_id=client.client_id, user_id=None, scope=scope)
        body = self.issue(grant, None, scope, new_grant=True)
        return 200, body, list(self.TOKEN_RESPONSE_HEADER)


__all__ = ["ClientCredentialsGrant"]
