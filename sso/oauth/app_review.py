"""An admin's say over the apps developers register (:mod:`sso.oauth.developer_apps`): approve
or reject a pending app (only ``active`` apps log anyone in), and mark an app as in
development, which lets only its owner and admins log in to it (and allows the loopback
redirect URIs of a web app in production, see :mod:`sso.oauth.redirect_uris`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.errors import Conflict
from sso.core.events import Event
from sso.db.models import Client, User
from sso.oauth import redirect_uris
from sso.storage import audit
from sso.storage import clients as client_repo
from sso.storage import registrations as repo
from sso.storage import roles as role_repo

# ---------------------------------------------------------------------------- admin review


def _review(
    session: Session,
    client: Client,
    actor_id: str | None,
    note: str,
    *,
    to: str,
    event: Event,
    allowed_from: tuple[str, ...],
) -> Client:
    if client.status not in allowed_from:
        raise Conflict(
            "developers.error.review_state",
            detail=f"cannot move client from {client.status} to {to}",
        )
    previous = client.status
    client_repo.record_review(
        session, client, status=to, reviewed_by_id=actor_id, note=note.strip()[:2000] or None
    )
    audit.record(
        session,
        event,
        actor_id=actor_id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        previous_status=previous,
    )
    return client


def approve(session: Session, client: Client, actor_id: str | None, note: str = "") -> Client:
    """An admin lets a pending (or earlier rejected) app log people in: status ``active``."""
    return _review(
        session,
        client,
        actor_id,
        note,
        to="active",
        event=Event.CLIENT_APPROVED,
        allowed_from=("pending", "rejected"),
    )


def reject(session: Session, client: Client, actor_id: str | None, note: str = "") -> Client:
    """An admin refuses a pending app: status ``rejected`` (the developer sees the note)."""
    return _review(
        session,
        client,
        actor_id,
        note,
        to="rejected",
        event=Event.CLIENT_REJECTED,
        allowed_from=("pending",),
    )


def pending(session: Session) -> list[Client]:
    """Apps waiting for review, oldest first (for the admin console)."""
    return list(repo.pending_clients(session))


# ---------------------------------------------------------------------------- in development

ADMIN_ROLE = "admin"


def may_log_in(session: Session, client: Client, user: User) -> bool:
    """Whether ``user`` may log in to ``client``: anyone, unless an admin marked the app as in
    development; then only its owner and admins (a loopback redirect URI sends the code to
    whatever listens on that port of the person's own machine, and an unreviewed build should
    not meet the public)."""
    if not client.in_development:
        return True
    if client.owner_id is not None and client.owner_id == user.id:
        return True
    return ADMIN_ROLE in role_repo.role_names_for(session, user.id, user.agency_id, None)


def set_in_development(
    session: Session, settings: Settings, client: Client, flag: bool, *, actor_id: str | None
) -> bool:
    """An admin marks ``client`` as in development (or no longer); returns whether it changed.

    Clearing the mark is refused while the app has redirect URIs only the mark allows (loopback
    ``http`` of a web app in production): they would stay usable by anyone. The developer (or
    the admin) removes them first; the error names them."""
    if client.in_development == flag:
        return False
    if not flag:
        native = redirect_uris.is_native(client.app_kind, client.is_public)
        dev = settings.env == "dev"
        kept = [
            uri
            for uri in [*client.redirect_uris, *client.post_logout_redirect_uris]
            if redirect_uris.problem(uri, native=native, dev=dev) is not None
        ]
        if kept:
            raise Conflict(
                "developers.error.development_uris",
                detail=f"loopback redirect URIs still registered: {kept!r}",
                uris=", ".join(u[:200] for u in kept[:5]),
            )
    client_repo.set_in_development(session, client, flag)
    audit.record(
        session,
        Event.CLIENT_DEVELOPMENT_CHANGED,
        actor_id=actor_id,
        target_type="client",
        target_id=client.client_id,
        client_id=client.client_id,
        in_development=flag,
    )
    return True
