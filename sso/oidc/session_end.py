"""Ending a person's sessions and what hangs off them: their grants, and the back-channel
logout notifications (Back-Channel Logout 1.0 §2.5) of the relying parties that used them.

Everything here only writes rows in the caller's transaction: deliveries are *enqueued*, and the
logout tokens are signed when they are sent (:mod:`sso.oidc.backchannel`), so the CLI and admin
pages need nothing but a database session. Once committed, a running server's delivery worker
sends them within seconds (or call :func:`sso.oidc.backchannel.deliver_due` right away).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from sso.accounts import sessions as login_sessions
from sso.core.events import Event
from sso.db.models import Grant, LoginSession
from sso.storage import audit
from sso.storage import clients as client_repo
from sso.storage import grants as grant_repo
from sso.storage import logout as delivery_repo
from sso.storage import sessions as session_repo

OFFLINE_ACCESS = "offline_access"


def _revoke(session: Session, grant: Grant, reason: str) -> bool:
    if not grant_repo.revoke_grant(session, grant.id):
        return False
    audit.record(
        session,
        Event.GRANT_REVOKED,
        actor_id=grant.user_id,
        client_id=grant.client_id,
        target_type="grant",
        target_id=grant.id,
        reason=reason,
    )
    return True


def revoke_session_grants(session: Session, login_session_id: str, *, reason: str) -> list[str]:
    """Revoke the grants made in a login session, except those holding ``offline_access``.

    Tokens bound to the session end with it (as Keycloak does); an ``offline_access`` grant was
    asked for precisely so that the client keeps access while the person is logged out (OIDC
    Core §11), so its refresh token survives a logout. Returns the ids revoked.
    """
    revoked = []
    for grant in grant_repo.grants_of_session(session, login_session_id):
        if OFFLINE_ACCESS in grant.scope.split():
            continue
        if _revoke(session, grant, reason):
            revoked.append(grant.id)
    return revoked


def enqueue_backchannel_logouts(session: Session, login: LoginSession, *, reason: str) -> list[str]:
    """One delivery per client that received tokens in ``login`` and registered a
    ``backchannel_logout_uri``; returns the delivery ids (to send them at once)."""
    ids = []
    for client_id in session_repo.clients_of(session, login.id):
        client = client_repo.get_by_client_id(session, client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        row = delivery_repo.enqueue(
            session,
            client_id=client_id,
            user_id=login.user_id,
            session_id=login.id,
            payload={"sub": login.user_id, "sid": login.id, "reason": reason},
        )
        ids.append(row.id)
    return ids


def end_everything_for_user(session: Session, user_id: str, *, reason: str) -> None:
    """End every live session of a person, revoke all their grants (offline ones included) and
    enqueue the back-channel logouts. Used when an admin disables a person. The caller commits.

    Each session's clients get a logout token with that ``sid``. A client that holds a grant of
    the person but was reached by no live session (an ``offline_access`` grant outliving its
    session) gets one token with ``sub`` only (Back-Channel Logout 1.0 §2.4: all of the
    person's sessions at that RP), unless it registered that it requires a ``sid``.
    """
    notified: set[str] = set()
    for login in session_repo.live_sessions_of_user(session, user_id):
        login_sessions.end(session, login, reason=reason)
        notified.update(session_repo.clients_of(session, login.id))
        enqueue_backchannel_logouts(session, login, reason=reason)
    for grant in grant_repo.grants_of_user(session, user_id):
        _revoke(session, grant, reason)
        if grant.client_id in notified:
            continue
        notified.add(grant.client_id)
        client = client_repo.get_by_client_id(session, grant.client_id)
        if (
            client is not None
            and client.backchannel_logout_uri
            and not client.backchannel_logout_session_required
        ):
            delivery_repo.enqueue(
                session,
                client_id=client.client_id,
                user_id=user_id,
                session_id=None,
                payload={"sub": user_id, "reason": reason},
            )
