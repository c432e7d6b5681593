"""A citizen deletes their own account (the right to erasure of the PDP law).

The person's row is deleted and the database cascades to everything hanging off it: password,
sessions, grants with their refresh tokens (so access tokens fail introspection too), consents,
MFA factors, pending links and role assignments. Relying parties that knew the person through a
live session or grant get a back-channel logout token (Back-Channel Logout 1.0: ``sub`` and the
``sid`` where there is one), sent after the commit.

The audit log is append-only, so the rows already written stay as they are. Every row written
from here on names the person only by a keyed-hash pseudonym (:func:`pseudonym`): the
``user.deleted`` event carries the pseudonym and counts, and neither an id, a name, an address,
nor the IP address and browser of the request. Whoever holds ``SSO_SECRET_KEY`` can still link
the pseudonym to the older rows of the same id (an investigation may need to); nobody else can.
The back-channel outbox rows carry the pseudonym as their owner too (their failure events are
audit rows); only the logout token's ``sub`` is the real id, as the relying party knows it.

OPD staff cannot delete themselves: their accounts belong to the city's records and are
disabled by an administrator instead.

A person with a second factor proves it once more before the deletion (:func:`factor_needed`):
a code from the authenticator app or a recovery code when they have either, so that a session
left open on a shared computer, even with the password written down, cannot erase the account.
A person whose only factor is a passkey needs a recent login made with it (the route asks the
login for ``acr=2``); this module cannot check a passkey assertion by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from sso.accounts import mfa
from sso.accounts.profile import Forbidden
from sso.config import Settings
from sso.core.crypto import Encryptor, keyed_hash
from sso.core.errors import NotFound
from sso.core.events import Event, RequestContext, current_context, request_context
from sso.db.models import User
from sso.storage import account_data, audit
from sso.storage import clients as client_repo
from sso.storage import consents as consent_repo
from sso.storage import grants as grant_repo
from sso.storage import logout as delivery_repo
from sso.storage import sessions as session_repo

PSEUDONYM_PURPOSE = "audit-pseudonym"
REASON = "account_deleted"


def pseudonym(settings: Settings, user_id: str) -> str:
    """A stable stand-in for a deleted person's id in new audit rows (fits ``actor_id``)."""
    return "anon-" + keyed_hash(settings.secret_key_bytes(), user_id, PSEUDONYM_PURPOSE)[:31]


def check_may_delete(user: User) -> None:
    if user.kind != "citizen":
        raise Forbidden("account.delete_staff", detail="staff accounts are not self-deleted")


# What proves the second factor before a deletion (:func:`factor_needed`).
FACTOR_CODE = "code"  # a TOTP code or a recovery code typed on the form
FACTOR_PASSKEY_LOGIN = "passkey_login"  # a recent login that used the passkey (acr=2)


def factor_needed(session: Session, user_id: str) -> str | None:
    """``"code"`` when the person has TOTP or recovery codes left, ``"passkey_login"`` when a
    passkey is their only factor, None without a second factor."""
    have = mfa.factors(session, user_id)
    if have.totp or have.recovery_codes_left > 0:
        return FACTOR_CODE
    if have.passkeys > 0:
        return FACTOR_PASSKEY_LOGIN
    return None


def code_method(code: str) -> str:
    """Which kind of code was typed into the one field: recovery codes have 10 characters,
    authenticator codes 6 to 8 digits."""
    normalized = mfa.normalize_recovery_code(code)
    return "recovery" if len(normalized) >= mfa.RECOVERY_CODE_LENGTH else "totp"


def check_second_factor(
    session: Session, settings: Settings, encryptor: Encryptor, user: User, code: str
) -> None:
    """Use up the typed code (a TOTP step or a recovery code can be used once), or raise
    :class:`sso.accounts.mfa.SecondFactorRefused` (its failure event is in ``session``)."""
    if not code.strip():
        raise mfa.SecondFactorRefused("account.delete.code_missing", reason="missing")
    mfa.check_code(session, settings, encryptor, user, code_method(code), code)


@dataclass(frozen=True)
class Deleted:
    pseudonym: str
    deliveries: list[str]


def _notify_relying_parties(session: Session, user_id: str, alias: str) -> list[str]:
    """Enqueue back-channel logout tokens: one per client of each live session (with ``sid``),
    one with ``sub`` only for a client that holds a grant but was reached by no live session."""
    ids: list[str] = []
    notified: set[str] = set()

    def enqueue(client_id: str, session_id: str | None) -> None:
        client = client_repo.get_by_client_id(session, client_id)
        if client is None or not client.backchannel_logout_uri:
            return
        if session_id is None and client.backchannel_logout_session_required:
            return
        payload: dict[str, str] = {"sub": user_id, "reason": REASON}
        if session_id is not None:
            payload["sid"] = session_id
        row = delivery_repo.enqueue(
            session, client_id=client_id, user_id=alias, session_id=session_id, payload=payload
        )
        ids.append(row.id)

    for login in session_repo.live_sessions_of_user(session, user_id):
        for client_id in session_repo.clients_of(session, login.id):
            notified.add(client_id)
            enqueue(client_id, login.id)
    for grant in grant_repo.grants_of_user(session, user_id):
        if grant.client_id not in notified:
            notified.add(grant.client_id)
            enqueue(grant.client_id, None)
    return ids


def delete_account(session: Session, settings: Settings, user_id: str) -> Deleted:
    """Delete the person (citizens only: Forbidden for staff); the caller has checked the
    password and a recent login, commits, then sends the deliveries."""
    user = account_data.user_for_update(session, user_id)
    if user is None:
        raise NotFound("error.user_unknown", detail="no such user")
    check_may_delete(user)
    alias = pseudonym(settings, user.id)
    sessions = len(session_repo.live_sessions_of_user(session, user.id))
    grants = len(grant_repo.grants_of_user(session, user.id))
    consents = len(consent_repo.of_user(session, user.id))
    deliveries = _notify_relying_parties(session, user.id, alias)
    session.expunge(user)
    account_data.delete_user(session, user_id)
    # No IP address or browser in this row either: they would point back at the person.
    previous = request_context.set(RequestContext(request_id=current_context().request_id))
    try:
        audit.record(
            session,
            Event.USER_DELETED,
            actor_id=alias,
            target_type="user",
            target_id=alias,
            kind="citizen",
            sessions_ended=sessions,
            grants_revoked=grants,
            consents_removed=consents,
            relying_parties_notified=len(deliveries),
        )
    finally:
        request_context.reset(previous)
    session.flush()
    return Deleted(alias, deliveries)
