"""What every grant at /token shares (RFC 6749 §5): the request's Session, the client's row, the
person of a grant (who must still be active), the token response with its ``token.issued``
audit row, and revoking a grant after a failed request was rolled back (a replayed code or
refresh token).

One module per grant type: :mod:`.authorization_code` (RFC 6749 §4.1 with PKCE, RFC 7636),
:mod:`.refresh_token` (§6), :mod:`.client_credentials` (§4.4) and :mod:`.device_code`
(RFC 8628 §3.4–3.5); :func:`sso.oauth.grants.register_grants` puts them on the server.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError
from sqlalchemy.orm import Session

from sso.core.events import Event
from sso.db.models import Client, Grant, User
from sso.oauth.clients import AUTH_METHODS, SCOPES
from sso.oauth.requests import OAuthRequest
from sso.oauth.tokens import IssuingServer, token_response
from sso.storage import audit
from sso.storage import grants as grant_repo
from sso.storage import users as user_repo

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


class TokenGrant:
    """The base of our grant classes (listed first, before the Authlib grant class)."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    GRANT_TYPE: str  # set by the Authlib grant class
    request: OAuthRequest
    server: IssuingServer

    @property
    def db(self) -> Session:
        return self.request.db

    def client_row(self) -> Client:
        row: Client = self.request.client.row
        return row

    def live_user(self, grant: Grant) -> User:
        user = user_repo.get(self.db, grant.user_id) if grant.user_id else None
        if user is None or not user.is_active:
            raise InvalidGrantError("The person of this grant cannot receive tokens.")
        return user

    def revoke_grant_on_error(self, grant_id: str, event: Event) -> None:
        """After the failed request is rolled back: revoke the grant and record why."""
        client_id = self.request.client.client_id if self.request.client else None

        def revoke(session: Session) -> None:
            revoked = grant_repo.revoke_grant(session, grant_id)
            audit.record(
                session,
                event,
                outcome="failure",
                client_id=client_id,
                target_type="grant",
                target_id=grant_id,
            )
            if revoked:
                audit.record(
                    session,
                    Event.GRANT_REVOKED,
                    client_id=client_id,
                    target_type="grant",
                    target_id=grant_id,
                    reason=event,
                )

        self.request.on_error.append(revoke)

    def issue_for_person(self, grant: Grant, *, nonce: str | None) -> dict[str, Any]:
        """The tokens a person's redeemed grant earns (a code or an approved device code): the
        person must still be live; a refresh token when the client and scope allow one."""
        user = self.live_user(grant)
        client = self.client_row()
        refresh = None
        if issues_refresh_token(client, grant.scope):
            refresh = self.server.tokens.refresh_token(
                self.db, client=client, grant=grant, scope=grant.scope
            )
        return self.issue(grant, user, grant.scope, refresh=refresh, nonce=nonce)

    def issue(
        self, grant: Grant, user: User | None, scope: str, *, new_grant: bool = False, **extra: Any
    ) -> dict[str, Any]:
        """The token response; the ``token.issued`` audit row is written with it, and with a
        ``new_grant`` (not written yet) the grant too, in the same statement."""
        client = self.client_row()
        tokens = self.server.tokens
        access = tokens.access_token(self.db, client=client, grant=grant, scope=scope)
        refresh = extra.pop("refresh", None)
        body = token_response(access, scope, refresh)
        self.request.user = user
        self.request.context.update(grant=grant, user=user, client=client, **extra)
        event = audit.event_values(
            Event.TOKEN_ISSUED,
            actor_id=user.id if user else None,
            client_id=client.client_id,
            target_type="grant",
            target_id=grant.id,
            grant_type=self.GRANT_TYPE,
            refresh_token=refresh is not None,
        )
        if new_grant:
            grant_repo.insert_grant(self.db, grant, event)
        else:
            audit.write(self.db, event)
        return body


__all__ = ["PERSON_SCOPES", "TokenGrant", "issues_refresh_token"]
