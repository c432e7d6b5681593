"""The steps of a login interaction as services: show where it is, log in with a password,
consent, cancel, and :func:`continue_after_authentication`, the one way every login method
(password, passkey, an upstream identity provider, a phone code) hands a proven person to the
interaction. Second factors are in :mod:`sso.oidc.second_factor`.

Each function takes a loaded :class:`~sso.oidc.interaction.Interaction`, commits what it did and
returns an outcome (:mod:`sso.oidc.outcomes`) for the route to render. A step on an interaction
that was finished meanwhile raises :class:`~sso.oidc.interaction.InteractionExpired`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sso.accounts import mfa
from sso.accounts import sessions as login_sessions
from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import (
    ACR_GRACE,
    AuthenticationFailed,
    authenticate,
    check_may_log_in,
    email_grace,
    grace_ends_at,
)
from sso.accounts.throttle import LoginAttempt, Throttle, account_ref
from sso.core import events
from sso.core.events import Event
from sso.db.models import User
from sso.oidc import answer, interaction, policy
from sso.oidc.interaction import Interaction, InteractionExpired
from sso.oidc.outcomes import Answer, AppRefused, Proceed, Refused, Show, WrongStep
from sso.storage import audit

# Messages of a refused login, by reason (anything else: "wrong credentials").
REFUSAL_MESSAGES = {
    "disabled": "login.account_disabled",
    "unverified": "login.email_unverified",
    "throttled": "login.locked",
}


def advance(ia: Interaction) -> Show | Answer | AppRefused:
    """Where the interaction stands: the page of the step still owed (:class:`Show`; the
    caller commits after rendering it, since the enrolment page starts an enrolment), or its
    end: the answer to the client, or the refusal of an app in development (committed)."""
    nxt = ia.next()
    if nxt.step == "refused":  # an app in development: its owner and admins only
        assert nxt.user is not None
        if not answer.refuse(ia, nxt.user):
            raise InteractionExpired()
        ia.session.commit()
        return AppRefused()
    if nxt.step == "complete":
        assert nxt.current is not None
        response = answer.finish(ia, nxt.current)
        if response is None:
            raise InteractionExpired()
        ia.session.commit()
        return Answer(response)
    return Show(nxt.step, nxt.user)


def continue_after_authentication(
    ia: Interaction,
    user: User,
    *,
    amr: Sequence[str],
    acr: str = mfa.ACR_PASSWORD,
    method: str,
    idp: str | None = None,
) -> Proceed | Refused:
    """Continue the parked request ``ia`` now that ``user`` has proved who they are.

    Call this once your login method has identified the person (a password, a passkey, an
    upstream identity provider's ID token, a phone code), with:

    - ``amr``: the RFC 8176 method values proved (``["pwd"]``, ``["hwk", "user", "mfa"]``,
      ``["fed"]``, ``["sms"]``);
    - ``acr``: ``"1"`` for one factor, ``"2"`` only when the method itself proved two
      (a user-verified passkey; an upstream login that asserted MFA);
    - ``method``: a short name for the ``user.login`` audit event (``password``, ``passkey``,
      ``google``, ``phone``);
    - ``idp``: for a login through an upstream identity provider, its issuer (the ``idp``
      claim of the ID tokens this login earns).

    It applies the account rules (a disabled or unverified account is refused with a
    ``user.login_failed`` event), then either holds the person for a second factor (acr "1"
    and the request, the person's factors or the MFA policy want one: no session yet) or
    starts the login session (replacing the browser's) and binds it to the interaction.
    Guessing counters are the caller's (a password's or passkey's). Commits.

    Render the outcome: :class:`Proceed` means redirect to ``/interaction/{id}`` setting
    ``session_cookie`` when given (the policy then shows MFA, consent, or answers the client);
    :class:`Refused` means show the login page again with its message.
    """
    session, settings = ia.session, ia.settings
    federated = "fed" in amr
    grace = None if federated else email_grace(settings)
    try:
        # An upstream that proved the person stands in for the email link (amr "fed").
        check_may_log_in(user, grace, email_rule=not federated)
    except AuthenticationFailed as exc:
        record_login_failed(ia, exc, method)
        return Refused(REFUSAL_MESSAGES.get(exc.reason, "login.invalid_credentials"))
    # A citizen who has not opened their verification mail yet, within the grace after
    # registering: a login below level 1 (acr "0") that ends with the grace (issue 15).
    grace_end = grace_ends_at(user, grace)
    if grace_end is not None:
        acr = ACR_GRACE
    if acr != mfa.ACR_MFA and policy.second_factor_after_first(session, settings, ia.params, user):
        # No session yet: it starts once the second factor (or its enrolment) is done.
        interaction.hold_for_second_factor(ia, user, list(amr), method, idp)
        session.commit()
        return Proceed()
    new = login_sessions.start(
        session,
        settings,
        user,
        amr=list(amr),
        acr=acr,
        replaces=ia.current[0] if ia.current else None,
        method=method,
        idp=idp,
        ends_by=grace_end,
    )
    interaction.attach_login(ia, new.row, user)
    session.commit()
    return Proceed(session_cookie=new.cookie_value)


def record_login_failed(ia: Interaction, exc: AuthenticationFailed, method: str) -> None:
    """A ``user.login_failed`` event with the method, alone in its transaction (what the
    refused attempt wrote is undone). Commits."""
    ia.session.rollback()
    audit.record(
        ia.session,
        Event.USER_LOGIN_FAILED,
        outcome="failure",
        actor_id=exc.user.id if exc.user else None,
        target_type="user" if exc.user else None,
        target_id=exc.user.id if exc.user else None,
        client_id=ia.client.client_id,
        reason=exc.reason,
        method=method,
    )
    ia.session.commit()


def record_login_refused(
    ia: Interaction,
    guard: Throttle,
    attempt: LoginAttempt | None,
    exc: AuthenticationFailed,
    method: str,
) -> str:
    """The bookkeeping of a refused login, the same for every method (password, passkey): the
    guessing counters (a wrong credential counts as a guess; a right credential of an account
    that may not log in clears them, as a success would) and a ``user.login_failed`` event
    with the method. Commits; returns the catalogue key of the message to show."""
    ia.session.rollback()
    if attempt is not None:
        if exc.credential_was_wrong:
            guard.login_failed(attempt)
        else:
            guard.login_succeeded(attempt)
    record_login_failed(ia, exc, method)
    return REFUSAL_MESSAGES.get(exc.reason, "login.invalid_credentials")


def reserve_login(ia: Interaction, guard: Throttle, account: str) -> LoginAttempt:
    """Reserve one login attempt of ``account`` under the guessing limits (outside the request's
    transaction: the throttle counts in its own, and SQLite has one writer)."""
    ia.session.commit()
    return guard.reserve_login(account, events.current_context().ip)


def submit_password(
    ia: Interaction, hasher: PasswordHasher, guard: Throttle, username: str, password: str
) -> Proceed | Refused:
    """The login form: a username (or email, NIP) and password, under the guessing limits."""
    again = ia.reauth_user
    if again is not None:  # signing in again: the same person, whatever the form says
        username = again.username
    if not username or not password:
        return Refused("login.invalid_credentials", 400)
    attempt = reserve_login(ia, guard, account_ref(ia.session, username))
    if not attempt.verdict.allowed:
        # Refused before any password check, with the same answer for unknown accounts.
        record_login_refused(ia, guard, None, AuthenticationFailed("throttled"), "password")
        return Refused("login.locked", 429, attempt.verdict.retry_after)
    try:
        user = authenticate(ia.session, hasher, username, password, email_grace(ia.settings))
    except AuthenticationFailed as exc:
        return Refused(record_login_refused(ia, guard, attempt, exc, "password"), 401)
    outcome = continue_after_authentication(
        ia, user, amr=["pwd"], acr=mfa.ACR_PASSWORD, method="password"
    )
    guard.login_succeeded(attempt)
    return outcome


def submit_consent(ia: Interaction, allow: bool) -> Answer | WrongStep:
    """The consent page's answer: remember the consent and answer the client, or tell the
    client the person declined."""
    nxt = ia.next()
    if nxt.step != "consent" or nxt.current is None or nxt.user is None:
        return WrongStep()
    if not allow:
        return abort(ia, "the person declined")
    answer.remember_consent(ia.session, nxt.user, ia.client, ia.params)
    response = answer.finish(ia, nxt.current)
    if response is None:
        raise InteractionExpired()
    ia.session.commit()
    return Answer(response)


def abort(ia: Interaction, description: str = "the person cancelled the login") -> Answer:
    """End the interaction with ``access_denied`` (a device's poll is refused too)."""
    response = answer.deny(ia, "access_denied", description)
    if response is None:
        raise InteractionExpired()
    ia.session.commit()
    return Answer(response)
