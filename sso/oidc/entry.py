"""Where a browser enters a flow: ``/authorize`` (answered at once when the interaction
policy has nothing to ask, refused for ``prompt=none`` with the first unmet check's error,
else parked) and ``/device`` (a typed user code parks the device's request; RFC 8628 §3.3).
Both commit and return an outcome for the route."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from sso.accounts import sessions as login_sessions
from sso.accounts.throttle import Throttle
from sso.config import Settings
from sso.core import events
from sso.oauth import device as device_flow
from sso.oidc import answer, interaction, policy
from sso.oidc.authorize import (
    AuthorizationPageError,
    AuthorizationParams,
    AuthorizationRedirectError,
    redirect_error,
    validate,
)
from sso.oidc.interaction import ParkedRequest
from sso.oidc.keys import KeyService
from sso.oidc.outcomes import Answer, Refused
from sso.storage import clients as client_repo


@dataclass(frozen=True)
class Parked:
    """The request waits at ``/interaction/{interaction_id}`` for this browser."""

    interaction_id: str


@dataclass(frozen=True)
class ErrorPage:
    """The request cannot be trusted to redirect anywhere: show ``message`` (a catalogue key)."""

    message: str


def begin_authorization(
    session: Session,
    settings: Settings,
    keys: KeyService,
    multi: Mapping[str, Sequence[str]],
    *,
    session_cookie_value: str | None,
    browser_value: str,
) -> Answer | Parked | ErrorPage:
    """Validate an authorization request and run the interaction policy on it."""
    try:
        client, params = validate(session, multi)
        hinted = policy.hint_subject(session, keys, settings, params)
        current = login_sessions.resolve(session, settings, session_cookie_value)
        unmet = policy.first_unmet(
            policy.Situation(session, settings, client, params, current, hinted_sub=hinted)
        )
        if unmet is None:
            assert current is not None
            result = answer.issue_code(session, settings, client, params, *current)
            session.commit()
            return Answer(result)
        if "none" in params.prompt:  # OIDC Core §3.1.2.6: never show a page
            raise redirect_error(params, unmet.error, unmet.description)
        interaction_id = interaction.park(
            session, settings, ParkedRequest(params, hinted), browser_value=browser_value
        )
        session.commit()
        return Parked(interaction_id)
    except AuthorizationPageError as exc:
        session.rollback()
        return ErrorPage(exc.message)
    except AuthorizationRedirectError as exc:
        session.rollback()
        return Answer(
            answer.error_response(
                settings, exc.redirect_uri, exc.response_mode, exc.state, exc.error, exc.description
            )
        )


def begin_device_approval(
    session: Session,
    settings: Settings,
    guard: Throttle,
    user_code: str,
    *,
    browser_value: str,
    display_code: str | None,
) -> Parked | Refused:
    """A user code typed at ``/device``: park the device's request for this person to log in
    and confirm (never approved at once: the policy's consent check always asks). Wrong codes
    are counted per address (only failures: a hotspot's devices are not slowed)."""
    ip_key = guard.key("device_ip", events.current_context().ip or "unknown")
    wait = guard.retry_after(ip_key)
    if wait:
        return Refused("error.wait_minutes", 429, wait)
    row = device_flow.find_pending(session, settings.secret_key_bytes(), user_code)
    client = client_repo.get_by_client_id(session, row.client_id) if row else None
    if row is None or client is None or client.status != "active":
        session.rollback()
        guard.hit(ip_key, guard.limit(settings.device_code_max_failures_ip))
        return Refused("device.code_invalid", 400)
    params = AuthorizationParams(
        client_id=client.client_id,
        redirect_uri=settings.issuer_url + device_flow.DONE_PATH,
        scope=row.scope.split(),
        device_code_hash=row.device_code_hash,
        user_code=display_code,
    )
    interaction_id = interaction.park(
        session, settings, ParkedRequest(params), browser_value=browser_value
    )
    session.commit()
    return Parked(interaction_id)
