"""The interaction policy (sso.oidc.policy): its named checks in order, each with its
``prompt=none`` error; the typed parked state; and continue_after_authentication, the entry
point every login method uses to hand a proven person to a parked request (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.accounts import mfa
from sso.accounts import sessions as login_sessions
from sso.core.clock import FrozenClock, now, set_clock
from sso.db.models import AuditEvent, Client, LoginSession, User
from sso.oidc import interaction, policy
from sso.oidc.authorize import AuthorizationParams
from sso.oidc.interaction import Interaction, ParkedRequest
from sso.oidc.login import continue_after_authentication
from sso.oidc.outcomes import Proceed, Refused
from sso.runtime import Runtime
from sso.storage import users as user_repo
from tests.factories import create_client, create_user, enrol_totp


def _params(client: Client, **fields: Any) -> AuthorizationParams:
    return AuthorizationParams(
        client_id=client.client_id,
        redirect_uri=client.redirect_uris[0],
        scope=["openid", "profile"],
        **fields,
    )


def _unmet(
    runtime: Runtime,
    db: Session,
    client: Client,
    params: AuthorizationParams,
    login: tuple[LoginSession, User] | None = None,
    **more: Any,
) -> str | None:
    situation = policy.Situation(
        db,
        runtime.settings,
        client,
        params,
        login,
        **more,
    )
    check = policy.first_unmet(situation)
    return check.name if check else None


def test_the_checks_in_order_with_their_prompt_none_errors() -> None:
    assert [(c.name, c.prompt, c.error) for c in policy.CHECKS] == [
        ("no_session", "login", "login_required"),
        ("second_factor_owed", "mfa", "interaction_required"),
        ("prompt_login", "login", "login_required"),
        ("max_age", "login", "login_required"),
        ("id_token_hint", "login", "login_required"),
        ("app_in_development", "refused", "access_denied"),
        ("acr", "mfa", "interaction_required"),
        ("consent", "consent", "consent_required"),
    ]


def test_each_check_is_met_or_not(runtime: Runtime, db: Session) -> None:
    user = create_user(runtime, db)
    other = create_user(runtime, db, username="budi")
    client, _ = create_client(runtime, db)
    trusted, _ = create_client(runtime, db, name="Trusted", trusted=True)
    start = login_sessions.start(db, runtime.settings, user, amr=["pwd"])
    db.commit()
    login = (start.row, user)
    assert _unmet(runtime, db, client, _params(client)) == "no_session"
    assert _unmet(runtime, db, client, _params(client), held=user) == "second_factor_owed"
    assert _unmet(runtime, db, client, _params(client, prompt=["login"]), login) == "prompt_login"
    # A login inside this interaction meets the checks that ask for one.
    assert (
        _unmet(runtime, db, trusted, _params(trusted, prompt=["login"]), login, logged_in_here=True)
        is None
    )
    previous = set_clock(FrozenClock(now() + timedelta(seconds=30)))
    try:
        assert _unmet(runtime, db, client, _params(client, max_age=10), login) == "max_age"
        assert _unmet(runtime, db, trusted, _params(trusted, max_age=60), login) is None
    finally:
        set_clock(previous)
    assert _unmet(runtime, db, client, _params(client), login, hinted_sub=other.id) == (
        "id_token_hint"
    )
    assert (
        _unmet(runtime, db, client, _params(client), login, hinted_sub=policy.UNVERIFIABLE_HINT)
        == "id_token_hint"
    )
    assert _unmet(runtime, db, trusted, _params(trusted), login, hinted_sub=user.id) is None
    assert _unmet(runtime, db, trusted, _params(trusted, acr_values=["2"]), login) == "acr"
    assert _unmet(runtime, db, client, _params(client), login) == "consent"
    assert _unmet(runtime, db, trusted, _params(trusted, prompt=["consent"]), login) == "consent"
    assert _unmet(runtime, db, trusted, _params(trusted), login) is None


def test_parked_state_round_trips_and_reads_the_old_layout(runtime: Runtime, db: Session) -> None:
    client, _ = create_client(runtime, db)
    params = _params(client, prompt=["login"])
    parked = ParkedRequest(params, "sub-1", ["pwd"], "password")
    assert ParkedRequest.from_json(parked.to_json()) == parked
    old = {**params.to_json(), "_login_required": True, "_pending": {"amr": ["pwd"]}}
    assert ParkedRequest.from_json(old) == ParkedRequest(
        params, policy.UNVERIFIABLE_HINT, ["pwd"], "password"
    )


def _open(runtime: Runtime, session: Session, client: Client, **fields: object) -> Interaction:
    interaction_id = interaction.park(
        session, runtime.settings, ParkedRequest(_params(client, **fields)), browser_value="b1"
    )
    session.commit()
    return interaction.open_interaction(
        session, runtime.settings, interaction_id, browser_value="b1", session_cookie_value=None
    )


def _events(db: Session, name: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)).all())


def test_continue_after_authentication_starts_the_session(runtime: Runtime, db: Session) -> None:
    user = create_user(runtime, db)
    client, _ = create_client(runtime, db)
    with runtime.sessions() as session:
        ia = _open(runtime, session, client)
        assert ia.next().step == "login"
        outcome = continue_after_authentication(
            ia, user_repo.get(session, user.id) or user, amr=["fed"], method="google"
        )
        assert isinstance(outcome, Proceed) and outcome.session_cookie
        # The browser comes back with the new cookie: the policy now asks for consent.
        again = interaction.open_interaction(
            session,
            runtime.settings,
            ia.interaction_id,
            browser_value="b1",
            session_cookie_value=outcome.session_cookie,
        )
        nxt = again.next()
        assert nxt.step == "consent" and nxt.check == "consent"
        assert nxt.current is not None and nxt.current[0].amr == ["fed"]
        assert nxt.current[0].acr == mfa.ACR_PASSWORD
    (login_event,) = _events(db, "user.login")
    assert login_event.details["method"] == "google"


def test_continue_after_authentication_holds_for_a_second_factor(
    runtime: Runtime, db: Session
) -> None:
    user = create_user(runtime, db)
    enrol_totp(runtime, db, user)
    client, _ = create_client(runtime, db)
    with runtime.sessions() as session:
        ia = _open(runtime, session, client)
        person = session.get(User, user.id)
        assert person is not None
        outcome = continue_after_authentication(ia, person, amr=["sms"], method="phone")
        assert outcome == Proceed()  # no session until the second factor
        nxt = ia.next()
        assert (nxt.step, nxt.check, nxt.current) == ("mfa", "second_factor_owed", None)
        assert ia.parked.held_amr == ["sms"] and ia.parked.held_method == "phone"
        # A method that proved two factors itself is not held.
        ia2 = _open(runtime, session, client)
        outcome = continue_after_authentication(
            ia2, person, amr=["hwk", "user", "mfa"], acr=mfa.ACR_MFA, method="passkey"
        )
        assert isinstance(outcome, Proceed) and outcome.session_cookie
    assert [e.details["method"] for e in _events(db, "user.login")] == ["passkey"]


def test_continue_after_authentication_refuses_a_disabled_account(
    runtime: Runtime, db: Session
) -> None:
    user = create_user(runtime, db)
    client, _ = create_client(runtime, db)
    with runtime.sessions() as session:
        ia = _open(runtime, session, client)
        person = session.get(User, user.id)
        assert person is not None
        person.status = "disabled"
        session.flush()
        outcome = continue_after_authentication(ia, person, amr=["fed"], method="google")
        assert outcome == Refused("login.account_disabled")
        assert ia.next().step == "login"
    assert not _events(db, "user.login")
    (failed,) = _events(db, "user.login_failed")
    assert failed.details["method"] == "google" and failed.details["reason"] == "disabled"
