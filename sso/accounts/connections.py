"""A person's devices (login sessions) and connected apps, as the account console shows them,
and ending or revoking them.

Ending a session is the OIDC layer's business (the session's grants are revoked and its relying
parties get back-channel logout tokens): the web layer passes that as ``end_session``, a
function ``(db, login_session) -> delivery ids`` (:func:`sso.oidc.logout.end_session`), and sends
the deliveries once the transaction has committed. Only the person's own sessions can be
ended: an id of someone else's session is answered exactly like an unknown one.

Revoking a connected app forgets the consent (the next login asks again) and revokes every grant
the person gave that client, so its refresh tokens stop working at ``/token`` and its access
tokens fail introspection and ``/userinfo``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from sso.accounts.sessions import is_live
from sso.config import Settings
from sso.core.errors import NotFound
from sso.core.events import Event
from sso.db.models import LoginSession
from sso.storage import account_data, audit
from sso.storage import clients as client_repo
from sso.storage import consents as consent_repo
from sso.storage import grants as grant_repo
from sso.storage import sessions as session_repo

EndSession = Callable[[Session, LoginSession], list[str]]
CONSOLE_CLIENT_ID = "tangselconsole"  # the provider's own pages: not an app to revoke

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_device(user_agent: str | None) -> str | None:
    """ "Chrome on Android" from a User-Agent header (None when nothing is recognised)."""
    if not user_agent:
        return None
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} · {system}"
    return browser or system or re.sub(r"[^\x20-\x7e]", "", user_agent)[:60] or None


@dataclass(frozen=True)
class SessionView:
    id: str
    current: bool
    device: str | None
    ip: str | None
    auth_time: datetime
    last_seen_at: datetime
    apps: list[str]
    used_mfa: bool


def sessions_of(session: Session, user_id: str, current_id: str) -> list[SessionView]:
    """The person's live sessions, this one first, then the most recently used."""
    views = []
    for row in session_repo.live_sessions_of_user(session, user_id):
        names = []
        for client_id in session_repo.clients_of(session, row.id):
            if client_id == CONSOLE_CLIENT_ID:
                continue
            client = client_repo.get_by_client_id(session, client_id)
            names.append(client.name if client is not None else client_id)
        views.append(
            SessionView(
                id=row.id,
                current=row.id == current_id,
                device=describe_device(row.user_agent),
                ip=row.ip,
                auth_time=row.auth_time,
                last_seen_at=row.last_seen_at,
                apps=sorted(names),
                used_mfa=row.acr == "2",
            )
        )
    views.sort(key=lambda v: (not v.current, -v.last_seen_at.timestamp()))
    return views


def end_own_session(
    session: Session, settings: Settings, user_id: str, session_id: str, end_session: EndSession
) -> list[str]:
    """End one of the person's live sessions; NotFound for anyone else's (or an ended one)."""
    row = session_repo.get(session, session_id[:64]) if session_id else None
    if row is None or row.user_id != user_id or not is_live(row, settings):
        audit.record(
            session,
            Event.SESSION_ENDED,
            outcome="failure",
            actor_id=user_id,
            target_type="session",
            reason="not_own_or_unknown",
        )
        raise NotFound("account.session_unknown", detail="no such live session of this person")
    return end_session(session, row)


def end_other_sessions(
    session: Session, user_id: str, keep_id: str, end_session: EndSession
) -> tuple[int, list[str]]:
    """End every live session of the person but ``keep_id``; (how many, delivery ids)."""
    ended, deliveries = 0, []
    for row in session_repo.live_sessions_of_user(session, user_id):
        if row.id == keep_id:
            continue
        ended += 1
        deliveries += end_session(session, row)
    return ended, deliveries


def revoke_all_grants(session: Session, user_id: str, *, reason: str) -> int:
    """Revoke every live grant of the person (all refresh tokens, offline ones included)."""
    revoked = 0
    for grant in grant_repo.grants_of_user(session, user_id):
        if grant_repo.revoke_grant(session, grant.id):
            revoked += 1
            audit.record(
                session,
                Event.GRANT_REVOKED,
                actor_id=user_id,
                client_id=grant.client_id,
                target_type="grant",
                target_id=grant.id,
                reason=reason,
            )
    return revoked


# ----------------------------------------------------------------------------- apps


@dataclass(frozen=True)
class AppView:
    client_id: str
    name: str
    client_uri: str | None
    scopes: list[str]
    consented_at: datetime | None
    live_grants: int


def apps_of(session: Session, user_id: str) -> list[AppView]:
    views = []
    for client in account_data.connected_clients(session, user_id, exclude=[CONSOLE_CLIENT_ID]):
        consent = consent_repo.get(session, user_id, client.client_id)
        grants = account_data.live_grants_for_client(session, user_id, client.client_id)
        scopes = set(consent.scopes) if consent is not None else set()
        for grant in grants:
            scopes.update(grant.scope.split())
        views.append(
            AppView(
                client_id=client.client_id,
                name=client.name,
                client_uri=client.client_uri,
                scopes=sorted(scopes),
                consented_at=consent.created_at if consent is not None else None,
                live_grants=len(grants),
            )
        )
    return views


def revoke_app(session: Session, user_id: str, client_id: str) -> int:
    """Forget the consent and revoke the person's grants of ``client_id``; returns how many
    grants were revoked. NotFound when the person has no consent or grant of that client."""
    client_id = client_id[:64]
    consent = consent_repo.get(session, user_id, client_id) if client_id else None
    grants = account_data.live_grants_for_client(session, user_id, client_id) if client_id else []
    if client_id == CONSOLE_CLIENT_ID or (consent is None and not grants):
        raise NotFound("account.app_unknown", detail="no consent or grant of that client")
    if consent is not None:
        consent_repo.revoke(session, user_id, client_id)
    revoked = 0
    for grant in grants:
        if grant_repo.revoke_grant(session, grant.id):
            revoked += 1
            audit.record(
                session,
                Event.GRANT_REVOKED,
                actor_id=user_id,
                client_id=client_id,
                target_type="grant",
                target_id=grant.id,
                reason="consent_revoked",
            )
    audit.record(
        session,
        Event.CONSENT_REVOKED,
        actor_id=user_id,
        client_id=client_id,
        target_type="user",
        target_id=user_id,
        grants_revoked=revoked,
    )
    return revoked
