"""Who a validated upstream identity is here, without account takeover.

- An identity already linked logs its person in (if active, and of a kind the upstream may log
  in).
- An upstream open to staff matches a staff member only through the claim the admin mapped
  (``nip`` or a verified ``email``): the admin's mapping is the trust decision.
- An email that matches a local account never links by itself (Keycloak's auto-link flaw,
  keycloak#53041): the person first proves they own that account (:func:`link` runs only after
  the web layer checked the password and, when enrolled, the second factor).
- Otherwise a new citizen account is made from the claims; its email counts as verified only
  when the upstream says ``email_verified: true``; missing fields (name, email) are asked for.
  Staff accounts are never created this way.

A NIK from an identity-assurance upstream (INApas) is stored as the person's NIK with
``nik_verified`` true.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_email, validate_nik
from sso.accounts.profile import nik_hash
from sso.accounts.registration import username_base
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import Encryptor
from sso.core.errors import Conflict, InvalidInput
from sso.core.events import Event
from sso.db.models import FederatedIdentity, User
from sso.federation.flow import Verified
from sso.storage import account_data, audit
from sso.storage import upstreams as repo
from sso.storage import users as user_repo

FEDERATION_LOGIN = Event.FEDERATION_LOGIN
FEDERATION_LINKED = Event.FEDERATION_LINKED
FEDERATION_UNLINKED = Event.FEDERATION_UNLINKED
FEDERATION_REFUSED = Event.FEDERATION_REFUSED
FEDERATION_NIK_CONFLICT = Event.FEDERATION_NIK_CONFLICT
USER_REGISTERED = Event.USER_REGISTERED

Kind = Literal["login", "prove", "complete_profile", "refused"]
MAX_NAME = 200


@dataclass(frozen=True)
class Decision:
    kind: Kind
    user: User | None = None
    reason: str | None = None  # refused: catalogue key of the message
    missing: tuple[str, ...] = ()


def _verified_email(claims: dict[str, Any]) -> bool:
    value = claims.get("email_verified")
    return value is True or value == "true"


def claimed_email(claims: dict[str, Any]) -> str | None:
    raw = claims.get("email")
    if not isinstance(raw, str) or len(raw) > 254:
        return None
    try:
        return normalize_email(raw)
    except InvalidInput:
        return None


def claimed_name(claims: dict[str, Any]) -> str | None:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get(k) for k in ("given_name", "family_name")]
        name = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    name = " ".join(str(name).split())
    return name[:MAX_NAME] or None


def may_use(verified: Verified, user: User) -> str | None:
    """Why ``user`` may not log in through this upstream (catalogue key), else None."""
    if not user.is_active:
        return "login.account_disabled"
    accounts = verified.upstream.accounts
    if user.kind == "staff" and accounts == "citizen":
        return "upstream.staff_not_here"
    if user.kind == "citizen" and accounts == "staff":
        return "upstream.citizens_not_here"
    return None


def _staff_match(session: Session, verified: Verified) -> User | None:
    up = verified.upstream
    if up.accounts == "citizen" or up.staff_match is None or up.staff_claim is None:
        return None
    value = verified.claims.get(up.staff_claim)
    if not isinstance(value, str) or not value.strip():
        return None
    if up.staff_match == "nip":
        return repo.staff_by_nip(session, "".join(value.split()))
    if not _verified_email(verified.claims):  # an unverified email proves nothing
        return None
    try:
        found = repo.user_by_email(session, normalize_email(value))
    except InvalidInput:
        return None
    return found if found is not None and found.kind == "staff" else None


def decide(session: Session, verified: Verified) -> Decision:
    """What happens with a validated identity on a login (purpose ``login``)."""
    identity = repo.find_identity(session, verified.upstream.id, verified.subject)
    if identity is not None:
        user = user_repo.get(session, identity.user_id)
        if user is None:
            return Decision("refused", reason="upstream.refused")
        why = may_use(verified, user)
        return Decision("refused", user, why) if why else Decision("login", user)
    staff = _staff_match(session, verified)
    if staff is not None:
        why = may_use(verified, staff)
        return Decision("refused", staff, why) if why else Decision("login", staff)
    email = claimed_email(verified.claims)
    existing = repo.user_by_email(session, email) if email else None
    if existing is not None:
        why = may_use(verified, existing)
        if why is None and existing.password is None:
            # No password to prove it with (an account made through another upstream): its
            # owner logs in that way and links this one from the account console.
            why = "upstream.prove_other_way"
        # Never linked on the email alone: the owner proves the account first.
        return Decision("refused", existing, why) if why else Decision("prove", existing)
    if verified.upstream.accounts == "staff":
        return Decision("refused", reason="upstream.no_staff_account")
    missing = tuple(
        f for f, v in (("name", claimed_name(verified.claims)), ("email", email)) if not v
    )
    return Decision("complete_profile", missing=missing) if missing else Decision("login")


def _set_verified_nik(
    session: Session, settings: Settings, encryptor: Encryptor, verified: Verified, user: User
) -> None:
    if not verified.upstream.identity_assurance or user.kind != "citizen":
        return
    raw = verified.claims.get("nik")
    if not isinstance(raw, str):
        return
    try:
        nik = validate_nik(raw[:64])
    except InvalidInput:
        return
    digest = nik_hash(settings, nik)
    if account_data.other_user_with_nik(session, digest, user.id) is not None:
        # Another account holds this NIK (typed, unverified): a person decides, not us.
        audit.record(
            session,
            FEDERATION_NIK_CONFLICT,
            outcome="failure",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            upstream=verified.upstream.slug,
        )
        return
    if user.nik_hash == digest and user.nik_verified:
        return
    user.nik_encrypted = encryptor.encrypt(nik)
    user.nik_hash = digest
    user.nik_verified = True
    session.flush()
    audit.record(
        session,
        Event.USER_NIK_SET,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        verified=True,
        source=verified.upstream.slug,
    )


def link(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    verified: Verified,
    user: User,
    *,
    proof: str,
) -> FederatedIdentity:
    """Link the identity to ``user`` (who proved the account: ``proof`` says how). Raises
    Conflict when the identity is someone else's or the person has one at this upstream."""
    if repo.find_identity(session, verified.upstream.id, verified.subject) is not None:
        raise Conflict("upstream.identity_taken", detail="identity linked to another account")
    if repo.identity_of_user(session, user.id, verified.upstream.id) is not None:
        raise Conflict("upstream.already_linked", detail="an identity at this upstream is linked")
    email = verified.claims.get("email")
    try:
        with session.begin_nested():
            identity = repo.add_identity(
                session,
                FederatedIdentity(
                    user_id=user.id,
                    upstream_id=verified.upstream.id,
                    subject=verified.subject,
                    email=email[:254] if isinstance(email, str) else None,
                    last_used_at=now(),
                ),
            )
    except IntegrityError:
        raise Conflict("upstream.identity_taken", detail="linked concurrently") from None
    audit.record(
        session,
        FEDERATION_LINKED,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        upstream=verified.upstream.slug,
        proof=proof,
    )
    _set_verified_nik(session, settings, encryptor, verified, user)
    return identity


def logged_in(
    session: Session, settings: Settings, encryptor: Encryptor, verified: Verified, user: User
) -> None:
    """Bookkeeping of a federated login: the link's last use, a verified NIK, the event."""
    identity = repo.find_identity(session, verified.upstream.id, verified.subject)
    if identity is not None:
        repo.touch_identity(session, identity.id, now())
    _set_verified_nik(session, settings, encryptor, verified, user)
    audit.record(
        session,
        FEDERATION_LOGIN,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        upstream=verified.upstream.slug,
    )


def create_citizen(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    verified: Verified,
    *,
    name: str | None = None,
    email: str | None = None,
) -> User:
    """A new citizen from the claims (``name``/``email``: the person's answers for missing
    ones), linked to the identity. Raises InvalidInput or Conflict (nothing is written)."""
    name = " ".join((name or claimed_name(verified.claims) or "").split())[:MAX_NAME]
    if not name:
        raise InvalidInput("register.name_required", detail="name required")
    claimed = claimed_email(verified.claims)
    typed = normalize_email(email) if email and not claimed else None
    address = claimed or typed
    if address is None:
        raise InvalidInput("error.email_invalid", detail="email required")
    if repo.user_by_email(session, address) is not None:
        raise Conflict("upstream.email_taken", detail="email has an account")
    verified_email = bool(claimed) and _verified_email(verified.claims)
    base = username_base(address)
    for attempt in range(8):
        username = base if attempt == 0 else f"{base}-{secrets.randbelow(9000) + 1000}"
        if user_repo.username_taken(session, username):
            continue
        try:
            with session.begin_nested():
                user = user_repo.add(
                    session,
                    User(
                        kind="citizen",
                        username=username,
                        username_normalized=username,
                        email=address,
                        email_normalized=address,
                        email_verified=verified_email,
                        display_name=name,
                        display_name_search=name.casefold(),
                        given_name=_short(verified.claims.get("given_name")),
                        family_name=_short(verified.claims.get("family_name")),
                        locale="en" if verified.claims.get("locale") == "en" else "id",
                        status="active",
                    ),
                )
        except IntegrityError:
            continue
        audit.record(
            session,
            USER_REGISTERED,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            upstream=verified.upstream.slug,
            email_verified=verified_email,
        )
        link(session, settings, encryptor, verified, user, proof="new_account")
        return user
    raise Conflict("error.username_taken", detail="no free username")


def _short(value: object) -> str | None:
    return value.strip()[:100] or None if isinstance(value, str) else None


def unlink(session: Session, user: User, identity_id: str) -> str:
    """Remove one linked identity (returns the upstream's slug). Never the last way to log in:
    Conflict then."""
    for identity, upstream in repo.identities_of_user(session, user.id):
        if identity.id == identity_id:
            if repo.other_ways_to_log_in(session, user.id, identity.id) == 0:
                raise Conflict("upstream.last_way", detail="the only way to log in")
            repo.delete_identity(session, identity.id, user.id)
            audit.record(
                session,
                FEDERATION_UNLINKED,
                actor_id=user.id,
                target_type="user",
                target_id=user.id,
                upstream=upstream.slug,
            )
            return upstream.slug
    raise InvalidInput("upstream.unknown", detail="no such linked identity")


def refused(
    session: Session,
    verified: Verified | None,
    reason: str,
    *,
    slug: str | None = None,
    user: User | None = None,
) -> None:
    """The audit event of a refused federated login (nothing else is written)."""
    audit.record(
        session,
        FEDERATION_REFUSED,
        outcome="failure",
        actor_id=user.id if user else None,
        target_type="user" if user else None,
        target_id=user.id if user else None,
        upstream=verified.upstream.slug if verified else slug,
        reason=reason[:80],
    )
