"""WebAuthn (Level 2) passkeys with py_webauthn: registration and authentication ceremonies.

The relying party id is the issuer's host and the only accepted origin is the issuer's origin.
A ceremony's challenge lives in ``webauthn_challenges`` under the keyed hash of a random handle
the browser sends back, so any worker can finish a ceremony another one started, and each
challenge is spent once (:func:`sso.storage.mfa.consume_challenge`).

Passkeys are registered as discoverable credentials (resident keys), so they also log a person
in without a password; then user verification is required, and the assertion counts as a
multi-factor authentication on its own (possession of the key + the PIN or biometric that
unlocked it). As a second factor after a password, user presence is enough.

The signature counter must grow when an authenticator keeps one: a counter that did not grow
after a valid signature suggests a cloned authenticator; the assertion is refused and audited
(WebAuthn §6.1.1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.core.errors import DomainError
from sso.core.events import Event
from sso.db.models import User, WebAuthnChallenge, WebAuthnCredential
from sso.storage import audit
from sso.storage import mfa as repo

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

# py_webauthn (with pyOpenSSL, cbor2, asn1 parsers: ~8 MB per process) is imported by the
# functions that run a ceremony, not at start: most workers never see a passkey (issue 7).

CEREMONY_SECONDS = 300
RP_NAME = "Tangsel SSO"
MAX_NAME = 100


class PasskeyError(DomainError):
    """The ceremony failed; ``message`` is a catalogue key, ``detail`` is for the log;
    ``user_id`` is the owner of the presented passkey when it is one of ours (so a failed
    login with it counts against that account, as a wrong password would)."""

    user_id: str | None = None

    @classmethod
    def of_owner(cls, user_id: str, message: str, detail: str) -> PasskeyError:
        error = cls(message, detail=detail)
        error.user_id = user_id
        return error


@dataclass(frozen=True)
class Relying:
    rp_id: str
    origin: str


@dataclass(frozen=True)
class Assertion:
    credential: WebAuthnCredential
    user_verified: bool
    data: dict[str, Any]

    @property
    def amr(self) -> list[str]:
        """RFC 8176: a synced (backup-eligible) passkey is software-held key material, a
        device-bound one hardware-held; ``user`` = the authenticator tested presence."""
        return ["swk" if self.credential.backed_up else "hwk", "user"]


def relying_party(settings: Settings) -> Relying:
    parts = urlsplit(settings.issuer_url)
    return Relying(parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}")


def _handle_hash(settings: Settings, handle: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), handle, "webauthn")


def _descriptors(creds: list[WebAuthnCredential]) -> list[PublicKeyCredentialDescriptor]:
    import webauthn
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    out = []
    for cred in creds:
        transports = []
        for t in cred.transports or []:
            try:
                transports.append(AuthenticatorTransport(t))
            except ValueError:
                continue
        out.append(
            PublicKeyCredentialDescriptor(
                id=webauthn.base64url_to_bytes(cred.credential_id), transports=transports or None
            )
        )
    return out


def _store_challenge(
    session: Session,
    settings: Settings,
    purpose: str,
    challenge: bytes,
    user_id: str | None,
    data: dict[str, Any],
) -> str:
    from webauthn.helpers import bytes_to_base64url

    handle = random_token(nbytes=24)
    repo.add_challenge(
        session,
        WebAuthnChallenge(
            handle_hash=_handle_hash(settings, handle),
            purpose=purpose,
            user_id=user_id,
            challenge=bytes_to_base64url(challenge),
            data=data,
            expires_at=now() + timedelta(seconds=CEREMONY_SECONDS),
        ),
    )
    return handle


def _spend(session: Session, settings: Settings, handle: object, purpose: str) -> WebAuthnChallenge:
    if not isinstance(handle, str) or not handle or len(handle) > 100:
        raise PasskeyError("mfa.passkey_failed", detail="missing ceremony handle")
    row = repo.consume_challenge(session, _handle_hash(settings, handle), purpose)
    if row is None:
        raise PasskeyError("mfa.passkey_expired", detail="unknown, used or expired challenge")
    return row


# ---------------------------------------------------------------------- registration
def registration_options(
    session: Session, settings: Settings, user: User
) -> tuple[str, dict[str, Any]]:
    """(handle, PublicKeyCredentialCreationOptions as JSON) for ``navigator.credentials.create``."""
    import webauthn
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    rp = relying_party(settings)
    existing = list(repo.passkeys_of(session, user.id))
    options = webauthn.generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=RP_NAME,
        user_id=user.id.encode(),  # an opaque id, no personal data (WebAuthn §14.6.1)
        user_name=user.username,
        user_display_name=user.display_name or user.username,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(existing),
        timeout=CEREMONY_SECONDS * 1000,
    )
    handle = _store_challenge(session, settings, "register", options.challenge, user.id, {})
    data: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    data["extensions"] = {"credProps": True}
    return handle, data


def register(
    session: Session,
    settings: Settings,
    user: User,
    handle: object,
    credential: object,
    name: str,
) -> WebAuthnCredential:
    """Verify the browser's attestation and store the new passkey."""
    import webauthn
    from webauthn.helpers import bytes_to_base64url
    from webauthn.helpers.exceptions import WebAuthnException
    from webauthn.helpers.structs import CredentialDeviceType

    row = _spend(session, settings, handle, "register")
    if row.user_id != user.id or not isinstance(credential, dict):
        raise PasskeyError("mfa.passkey_failed", detail="challenge of another person")
    rp = relying_party(settings)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=webauthn.base64url_to_bytes(row.challenge),
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError("mfa.passkey_failed", detail=str(exc)[:200]) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if repo.find_passkey(session, credential_id) is not None:
        raise PasskeyError("mfa.passkey_exists", detail="credential already registered")
    response = credential.get("response")
    transports = response.get("transports") if isinstance(response, dict) else None
    ext = credential.get("clientExtensionResults")
    props = ext.get("credProps") if isinstance(ext, dict) else None
    discoverable = bool(props.get("rk", True)) if isinstance(props, dict) else True
    stored = repo.add_passkey(
        session,
        WebAuthnCredential(
            user_id=user.id,
            credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            transports=[t for t in transports if isinstance(t, str)][:8]
            if isinstance(transports, list)
            else [],
            aaguid=verified.aaguid,
            name=clean_name(name) or "Passkey",
            discoverable=discoverable,
            backed_up=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        ),
    )
    audit.record(
        session,
        Event.MFA_PASSKEY_ADDED,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        passkey_id=stored.id,
        aaguid=verified.aaguid,
    )
    return stored


def clean_name(name: str) -> str:
    return " ".join(name.split())[:MAX_NAME]


# ---------------------------------------------------------------------- authentication
def authentication_options(
    session: Session,
    settings: Settings,
    *,
    user: User | None,
    data: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Options for ``navigator.credentials.get``: for ``user``'s passkeys (second factor), or
    for any discoverable credential (``user`` None: a login without password, UV required)."""
    import webauthn
    from webauthn.helpers.structs import UserVerificationRequirement

    rp = relying_party(settings)
    allow = _descriptors(list(repo.passkeys_of(session, user.id))) if user is not None else []
    uv = UserVerificationRequirement.PREFERRED if user else UserVerificationRequirement.REQUIRED
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id,
        allow_credentials=allow,
        user_verification=uv,
        timeout=CEREMONY_SECONDS * 1000,
    )
    data = {**data, "require_uv": user is None}
    handle = _store_challenge(
        session, settings, "authenticate", options.challenge, user.id if user else None, data
    )
    return handle, json.loads(webauthn.options_to_json(options))


def authenticate(
    session: Session, settings: Settings, handle: object, credential: object
) -> Assertion:
    """Verify an assertion against the challenge ``handle`` names; the caller checks that
    ``Assertion.data`` (what the ceremony was started for) matches where it is finished."""
    import webauthn
    from webauthn.helpers.exceptions import WebAuthnException

    row = _spend(session, settings, handle, "authenticate")
    if not isinstance(credential, dict) or not isinstance(credential.get("id"), str):
        raise PasskeyError("mfa.passkey_failed", detail="malformed credential")
    stored = repo.find_passkey(session, credential["id"])
    if stored is None or (row.user_id is not None and stored.user_id != row.user_id):
        raise PasskeyError("mfa.passkey_unknown", detail="credential not registered here")
    response = credential.get("response")
    user_handle = response.get("userHandle") if isinstance(response, dict) else None
    if row.user_id is None and user_handle:  # discoverable: the handle must name the owner
        try:
            owner = webauthn.base64url_to_bytes(str(user_handle)).decode()
        except (ValueError, UnicodeDecodeError):
            owner = ""
        if owner != stored.user_id:
            raise PasskeyError("mfa.passkey_unknown", detail="user handle mismatch")
    rp = relying_party(settings)
    require_uv = bool(row.data.get("require_uv"))
    try:
        # The counter is checked below (to tell a clone from a plain failure), so the library
        # is given 0, which makes it skip its own check.
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=webauthn.base64url_to_bytes(row.challenge),
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=webauthn.base64url_to_bytes(stored.public_key),
            credential_current_sign_count=0,
            require_user_verification=require_uv,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyError.of_owner(
            stored.user_id, "mfa.passkey_failed", detail=str(exc)[:200]
        ) from None
    new_count = verified.new_sign_count
    if (new_count or stored.sign_count) and new_count <= stored.sign_count:
        audit.record(
            session,
            Event.MFA_PASSKEY_COUNTER_REGRESSED,
            outcome="failure",
            actor_id=stored.user_id,
            target_type="user",
            target_id=stored.user_id,
            passkey_id=stored.id,
            stored_count=stored.sign_count,
            presented_count=new_count,
        )
        raise PasskeyError.of_owner(
            stored.user_id, "mfa.passkey_cloned", detail="signature counter did not grow"
        )
    if not repo.record_passkey_use(session, stored.id, stored.sign_count, new_count):
        raise PasskeyError("mfa.passkey_failed", detail="concurrent use of the passkey")
    session.refresh(stored)
    return Assertion(stored, verified.user_verified, dict(row.data))
