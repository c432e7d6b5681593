"""The second factor inside a login interaction, as services: a TOTP or recovery code, TOTP
enrolment for a person who must have a factor and has none, and passkeys (a second factor, or
a login without password from the login page). Outcomes as in :mod:`sso.oidc.login`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sso.accounts import mfa, passkeys
from sso.accounts import sessions as login_sessions
from sso.accounts.service import AuthenticationFailed, check_may_log_in
from sso.accounts.throttle import Throttle
from sso.core import events
from sso.core.crypto import Encryptor
from sso.core.events import Event
from sso.db.models import User
from sso.oidc import interaction
from sso.oidc.interaction import Interaction, InteractionExpired
from sso.oidc.login import continue_after_authentication, record_login_refused, reserve_login
from sso.oidc.outcomes import Proceed, Refused, WrongStep
from sso.storage import audit
from sso.storage import users as user_repo


def complete_second_factor(
    ia: Interaction, user: User, method_amr: list[str], method: str
) -> str | None:
    """Finish the login (or the step-up) at acr "2"; returns a new session cookie value when a
    session was started. The caller commits."""
    held = ia.parked.held_amr
    cookie: str | None = None
    if held is not None:
        new = login_sessions.start(
            ia.session,
            ia.settings,
            user,
            amr=mfa.combine_amr(held, method_amr),
            acr=mfa.ACR_MFA,
            replaces=ia.current[0] if ia.current else None,
            method=ia.parked.held_method or "password",
            idp=ia.parked.held_idp,
        )
        interaction.attach_login(ia, new.row, user)
        session_id, cookie = new.row.id, new.cookie_value
    else:
        # A step-up adds the factor to the browser's own session: that session must be the
        # person's who just proved the factor.
        if ia.current is None or ia.current[1].id != user.id:
            raise InteractionExpired()
        row = ia.current[0]
        login_sessions.upgrade(
            ia.session, row, amr=mfa.combine_amr(list(row.amr), method_amr), acr=mfa.ACR_MFA
        )
        interaction.attach_login(ia, row, user)
        session_id = row.id
    audit.record(
        ia.session,
        Event.MFA_VERIFIED,
        actor_id=user.id,
        target_type="user",
        target_id=user.id,
        client_id=ia.client.client_id,
        session_id=session_id,
        method=method,
        step_up=held is None,
    )
    return cookie


def submit_code(
    ia: Interaction, guard: Throttle, encryptor: Encryptor, method: str, code: str
) -> Proceed | Refused | WrongStep:
    """A TOTP or recovery code (``method``), under the code guessing limits."""
    nxt = ia.next()
    if nxt.step != "mfa" or nxt.user is None:
        return WrongStep()
    user = nxt.user
    if method not in mfa.METHODS or not code.strip():
        return Refused("mfa.code_invalid", 400)
    ia.session.commit()  # the throttle counts in its own transaction (SQLite has one writer)
    attempt = mfa.reserve_code_attempt(guard, user.id, events.current_context().ip)
    if not attempt.verdict.allowed:
        audit.record(
            ia.session,
            Event.MFA_FAILED,
            outcome="failure",
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
            method=method,
            reason="throttled",
        )
        ia.session.commit()
        return Refused("mfa.locked", 429, attempt.verdict.retry_after)
    try:
        amr = mfa.check_code(ia.session, ia.settings, encryptor, user, method, code)
    except mfa.SecondFactorRefused as exc:
        ia.session.commit()  # the audit event of the failure
        return Refused(exc.message, 401)
    cookie = complete_second_factor(ia, user, amr, method)
    ia.session.commit()
    mfa.code_attempt_succeeded(guard, attempt)
    return Proceed(cookie)


def confirm_enrolment(
    ia: Interaction, encryptor: Encryptor, code: str
) -> Proceed | Refused | WrongStep:
    """The first TOTP code of a person enrolling at login: the factor is confirmed and counts
    as this login's second factor; the outcome carries the recovery codes to show once."""
    nxt = ia.next()
    if nxt.step != "enrol" or nxt.user is None:
        return WrongStep()
    user = nxt.user
    codes = mfa.confirm_totp(ia.session, ia.settings, encryptor, user, code)
    if codes is None:
        ia.session.rollback()
        return Refused("mfa.code_invalid", 400)
    cookie = complete_second_factor(ia, user, ["otp"], "totp_enrolment")
    ia.session.commit()
    return Proceed(cookie, tuple(codes))


@dataclass(frozen=True)
class PasskeyChallenge:
    """The WebAuthn options to hand the browser, and the handle that names the challenge."""

    handle: str
    options: dict[str, Any]


def passkey_options(ia: Interaction) -> PasskeyChallenge | WrongStep:
    """A challenge for a login without password (any discoverable credential) at the login
    step, or for the held person's passkey at the second-factor step."""
    nxt = ia.next()
    if nxt.step == "login":
        handle, options = passkeys.authentication_options(
            ia.session,
            ia.settings,
            user=None,
            data={"interaction": ia.row.id_hash, "mode": "login"},
        )
    elif nxt.step == "mfa" and nxt.user is not None:
        handle, options = passkeys.authentication_options(
            ia.session,
            ia.settings,
            user=nxt.user,
            data={"interaction": ia.row.id_hash, "mode": "second_factor"},
        )
    else:
        return WrongStep()
    ia.session.commit()
    return PasskeyChallenge(handle, options)


def _passkey_login_failed(ia: Interaction, guard: Throttle, exc: passkeys.PasskeyError) -> None:
    """A passkey that did not prove anyone at the login page: a guess against its owner's
    account when the credential is known (its signature failed), else a failure from this
    address; recorded as ``user.login_failed`` with the method."""
    owner = user_repo.get(ia.session, exc.user_id) if exc.user_id else None
    account = f"user:{owner.id}" if owner is not None else "passkey:unknown"
    attempt = reserve_login(ia, guard, account)
    record_login_refused(
        ia,
        guard,
        attempt,
        AuthenticationFailed("bad_passkey" if owner else "unknown_user", owner),
        "passkey",
    )


def passkey_finish(
    ia: Interaction, guard: Throttle, handle: object, credential: object
) -> Proceed | Refused | WrongStep:
    """The browser's WebAuthn assertion for a challenge of :func:`passkey_options`: a login
    without password (the same rules and bookkeeping as a password) or a second factor."""
    nxt = ia.next()
    try:
        assertion = passkeys.authenticate(ia.session, ia.settings, handle, credential)
    except passkeys.PasskeyError as exc:
        ia.session.commit()  # the spent challenge, and the audit of a cloned authenticator
        if nxt.step == "login":  # a failed login, counted and recorded like a wrong password
            _passkey_login_failed(ia, guard, exc)
        return Refused(exc.message, 400)
    data = assertion.data
    owner = assertion.credential.user_id
    # From here on a refusal still commits: the challenge is spent and the counter moved.
    ia.session.commit()
    if data.get("interaction") != ia.row.id_hash:
        return Refused("mfa.passkey_failed", 400)
    if data.get("mode") == "login" and nxt.step == "login":
        user = user_repo.get(ia.session, owner)
        if user is None:
            return Refused("mfa.passkey_unknown", 400)
        attempt = reserve_login(ia, guard, f"user:{user.id}")
        if not attempt.verdict.allowed:
            record_login_refused(
                ia, guard, None, AuthenticationFailed("throttled", user), "passkey"
            )
            return Refused("login.locked", 429, attempt.verdict.retry_after)
        if not assertion.user_verified:  # a login needs the person verified, not a touch
            record_login_refused(
                ia, guard, attempt, AuthenticationFailed("bad_passkey", user), "passkey"
            )
            return Refused("mfa.passkey_unknown", 400)
        try:
            check_may_log_in(user)
        except AuthenticationFailed as exc:
            return Refused(record_login_refused(ia, guard, attempt, exc, "passkey"), 400)
        outcome = continue_after_authentication(
            ia,
            user,
            amr=mfa.combine_amr(assertion.amr),
            acr=mfa.ACR_MFA,
            method="passkey",
        )
        guard.login_succeeded(attempt)
        return outcome
    if data.get("mode") == "second_factor" and nxt.step == "mfa" and nxt.user is not None:
        if nxt.user.id != owner:
            return Refused("mfa.passkey_unknown", 400)
        cookie = complete_second_factor(ia, nxt.user, assertion.amr[:1], "passkey")
        ia.session.commit()
        return Proceed(cookie)
    return WrongStep()
