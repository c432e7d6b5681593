"""What admins do to a person: edit (optimistic locking), disable / enable, unlock, send a
reset link, reset MFA, end sessions. Scope and role checks are the caller's
(:mod:`sso.admin.access`); these enforce the data rules and write the audit events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sso.accounts import recovery
from sso.accounts.identifiers import normalize_email, validate_nip
from sso.accounts.mail import Mail
from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import NewUser, create_user
from sso.accounts.throttle import Throttle
from sso.admin.services.authority import ADMIN, Authority, admin_roles_of
from sso.admin.services.roles import keep_an_admin
from sso.config import Settings
from sso.core.errors import Conflict, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import User
from sso.oidc.logout import end_session
from sso.oidc.session_end import end_everything_for_user
from sso.storage import agencies as agency_repo
from sso.storage import audit
from sso.storage import sessions as session_repo
from sso.storage import users as user_repo


@dataclass(frozen=True)
class PersonEdit:
    version: int
    display_name: str
    email: str
    phone: str
    position: str
    nip: str
    agency_id: int | None


@dataclass(frozen=True)
class NewStaff:
    username: str
    display_name: str
    email: str
    nip: str
    agency_id: int | None
    position: str
    phone: str


def create_staff(
    session: Session, hasher: PasswordHasher, new: NewStaff, *, actor_id: str | None
) -> User:
    """A staff member without a password (they set one through an activation link); the
    username defaults to the NIP. The caller checks the agency is within reach."""
    agency = agency_repo.get(session, new.agency_id) if new.agency_id is not None else None
    if new.agency_id is not None and agency is None:
        raise NotFound("error.agency_unknown")
    return create_user(
        session,
        hasher,
        NewUser(
            username=new.username or new.nip,
            email=new.email or None,
            kind="staff",
            display_name=new.display_name,
            nip=new.nip or None,
            agency_code=agency.code if agency else None,
            position=new.position or None,
            phone=new.phone or None,
            email_verified=bool(new.email),
        ),
        None,
        actor_id=actor_id,
    )


def visible(
    who: Authority, kind: str | None, agency_ids: set[int] | None
) -> tuple[str | None, set[int] | None]:
    """The people a list may show ``who``: an opd-admin sees the staff of their agencies
    only (whatever kind or agencies were asked for)."""
    if who.scope is None:
        return kind, agency_ids
    return "staff", set(who.scope) if agency_ids is None else agency_ids & who.scope


def stale(user: User, version: int) -> Conflict:
    return Conflict(
        "admin.conflict",
        detail=f"user {user.id} is at version {user.version}, "
        f"the form was made from version {version}",
    )


def edit(session: Session, user: User, change: PersonEdit, *, actor_id: str | None) -> list[str]:
    """Apply the form; returns the names of the fields that changed. Raises Conflict when the
    form was made from an older version of the record (someone saved in between)."""
    if user.version != change.version:
        raise stale(user, change.version)
    name = " ".join(change.display_name.split())
    if not name or len(name) > 200:
        raise InvalidInput("admin.error.name_required")
    values: dict[str, Any] = {
        "display_name": name,
        "display_name_search": name.casefold(),
        "phone": change.phone or None,
    }
    if change.email:
        email = normalize_email(change.email)
        if email != user.email_normalized and user_repo.email_taken(session, email):
            raise Conflict("error.email_taken")
        values.update(email=change.email, email_normalized=email)
    elif user.kind == "citizen":
        raise InvalidInput("error.email_invalid")
    else:
        values.update(email=None, email_normalized=None)
    if user.kind == "staff":
        nip = validate_nip(change.nip) if change.nip else None
        if nip and nip != user.nip and user_repo.nip_taken(session, nip):
            raise Conflict("error.nip_taken")
        if change.agency_id is not None and agency_repo.get(session, change.agency_id) is None:
            raise NotFound("error.agency_unknown")
        values.update(nip=nip, agency_id=change.agency_id, position=change.position or None)
    changed = [k for k, v in values.items() if getattr(user, k) != v and k != "display_name_search"]
    if not changed:
        return []
    was_admin = "agency_id" in changed and ADMIN in admin_roles_of(session, user)
    for key, value in values.items():
        setattr(user, key, value)
    session.flush()  # the version check (UPDATE … WHERE version = :old) happens here
    if was_admin:  # an admin through their agency, moved to another
        keep_an_admin(session)
    audit.record(
        session,
        Event.USER_UPDATED,
        actor_id=actor_id,
        target_type="user",
        target_id=user.id,
        fields=changed,
    )
    return changed


def set_disabled(session: Session, user: User, disabled: bool, *, actor_id: str | None) -> bool:
    """Disable (ending every session and revoking every grant at once) or enable."""
    wanted = "disabled" if disabled else "active"
    if user.status == wanted:
        return False
    if disabled and user.id == actor_id:
        raise InvalidInput("admin.error.not_yourself")
    was_admin = disabled and ADMIN in admin_roles_of(session, user)
    user.status = wanted
    session.flush()
    if was_admin:
        keep_an_admin(session)
    if disabled:
        end_everything_for_user(session, user.id, reason="disabled")
    audit.record(
        session,
        Event.USER_DISABLED if disabled else Event.USER_ENABLED,
        actor_id=actor_id,
        target_type="user",
        target_id=user.id,
    )
    return True


def unlock(session: Session, throttle: Throttle, user: User, *, actor_id: str | None) -> None:
    """Clear the guessing counters of the account: the account-wide one, and the account+IP
    ones of the addresses its recent failed logins came from (those keys include the IP; the
    list is :meth:`Throttle.account_counters`, the one the "locked" checks read)."""
    keys = throttle.account_counters(session, [user.id])[user.id]
    throttle.reset(keys, session)
    audit.record(
        session,
        Event.USER_UNLOCKED,
        actor_id=actor_id,
        target_type="user",
        target_id=user.id,
        addresses=len(keys) - 2,
    )


def send_reset_link(
    session: Session, settings: Settings, user: User, *, actor_id: str | None
) -> list[Mail]:
    if not user.email or not user.is_active:
        raise InvalidInput("admin.error.no_email")
    mails = recovery.request_reset(
        session, settings, user.email, user.locale or "id", actor_id=actor_id
    )
    audit.record(
        session,
        Event.USER_RESET_LINK_SENT,
        actor_id=actor_id,
        target_type="user",
        target_id=user.id,
        sent=bool(mails),
    )
    return mails


def reset_mfa(session: Session, user: User, *, actor_id: str | None) -> None:
    from sso.accounts import mfa  # the MFA module (second factors) owns what a reset removes

    mfa.reset_mfa(session, user.id, actor_id)


def end_sessions(session: Session, user: User, *, actor_id: str | None) -> list[str]:
    """End every live session of the person; returns back-channel delivery ids to send."""
    deliveries: list[str] = []
    live = session_repo.live_sessions_of_user(session, user.id)
    for login in live:
        deliveries.extend(end_session(session, login, client_id=None, reason="admin"))
    audit.record(
        session,
        Event.USER_SESSIONS_ENDED,
        actor_id=actor_id,
        target_type="user",
        target_id=user.id,
        sessions=len(live),
    )
    return deliveries
