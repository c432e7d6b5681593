"""Interactions: an authorization request parked server-side while the person logs in and
consents, then resumed (the node-oidc-provider model). What is still owed is decided by the
named checks of :mod:`sso.oidc.policy`; the steps a person takes are in :mod:`sso.oidc.login`; the answer to the parked request (a
code, a device's approval, an error) is :mod:`sso.oidc.answer`.

The interaction id travels in the URL; the row stores only its keyed hash and the keyed hash
of a per-browser cookie, so a leaked interaction URL is useless in another browser.

Second factors: after a first factor, a person who has a factor (or must have one, or whose
client asked ``acr_values=2``) is *held*: the row names them and keeps the methods used so far,
but no login session exists until the second factor is done, so SSO never hands out a
password-only session to someone who owes a second factor. A live session with ``acr`` "1" that
meets a request for "2" gets the step-up: the second factor only, then the session is upgraded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from sso.accounts import mfa
from sso.accounts import sessions as login_sessions
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.db.models import AuthorizationRequest, Client, LoginSession, User
from sso.oidc import policy
from sso.oidc.authorize import AuthorizationParams
from sso.storage import clients as client_repo
from sso.storage import interactions as repo
from sso.storage import sessions as session_repo
from sso.storage import users as user_repo

BROWSER_COOKIE = "sso_browser"
# The provider's own consoles (/account, /admin, /developers) log in as this built-in client
# (sso.web.console); a max_age request from it while logged in is a re-authentication.
CONSOLE_CLIENT_ID = "tangselconsole"
Step = Literal["login", "mfa", "enrol", "consent", "complete", "refused"]


class InteractionExpired(Exception):
    """The interaction is unknown, used, expired or belongs to another browser."""


@dataclass
class ParkedRequest:
    """The typed state of a parked request (the row's JSON column): the validated request, the
    subject of its ``id_token_hint`` (checked once, at /authorize) and, while a person is held
    for a second factor, the methods they proved so far (``held_amr``)."""

    request: AuthorizationParams
    hinted_sub: str | None = None
    held_amr: list[str] | None = None
    held_method: str | None = None  # how the held person logged in (``user.login``'s method)
    held_idp: str | None = None  # the upstream a held federated login came through

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request.to_json(),
            "hinted_sub": self.hinted_sub,
            "held_amr": self.held_amr,
            "held_method": self.held_method,
            "held_idp": self.held_idp,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParkedRequest:
        if "request" not in data:
            # Parked before this layout (the request's fields with "_login_required" and
            # "_pending" beside them); interactions live minutes, so this is read only
            # across an upgrade. A forced login maps to a hint nobody matches.
            flat = dict(data)
            forced = bool(flat.pop("_login_required", False))
            pending = flat.pop("_pending", None)
            held = [str(v) for v in pending.get("amr") or []] if isinstance(pending, dict) else None
            return cls(
                AuthorizationParams.from_json(flat),
                policy.UNVERIFIABLE_HINT if forced else None,
                held,
                "password",
            )
        held_amr = data.get("held_amr")
        return cls(
            AuthorizationParams.from_json(data["request"]),
            data.get("hinted_sub"),
            [str(v) for v in held_amr] if isinstance(held_amr, list) else None,
            data.get("held_method"),
            data.get("held_idp"),
        )


@dataclass(frozen=True)
class Next:
    """What the person still has to do (``check``: the name of the policy check that asks for
    it); ``current`` is the session the result will be bound to (None while a second factor
    is owed after a first one), ``user`` who has to do it."""

    step: Step
    current: tuple[LoginSession, User] | None = None
    user: User | None = None
    check: str | None = None


@dataclass
class Interaction:
    """One live parked request as a step of it sees it: its row and typed state, the client,
    and the browser's current login session (``current``)."""

    session: Session
    settings: Settings
    interaction_id: str
    row: AuthorizationRequest
    parked: ParkedRequest
    client: Client
    current: tuple[LoginSession, User] | None
    _next: Next | None = field(default=None, repr=False)

    @property
    def params(self) -> AuthorizationParams:
        return self.parked.request

    @property
    def step_up(self) -> bool:
        """A second factor owed by a live session (not by a person held after a first one)."""
        return self.parked.held_amr is None

    @property
    def reauth_user(self) -> User | None:
        """The person signing in again for a sensitive console action (``max_age`` from the
        console client while logged in): the username is fixed, the page says why."""
        if (
            self.current is not None
            and self.params.max_age is not None
            and self.client.client_id == CONSOLE_CLIENT_ID
        ):
            return self.current[1]
        return None

    def situation(self) -> policy.Situation:
        login, held, here = self.current, None, False
        if self.row.login_session_id is not None:
            # Logged in during this interaction: that session, if still live, is the one.
            live = session_repo.get(self.session, self.row.login_session_id)
            here = (
                live is not None
                and login_sessions.is_live(live, self.settings)
                and login is not None
                and login[0].id == live.id
            )
            if not here:
                login = None
        elif self.parked.held_amr is not None and self.row.user_id is not None:
            login = None
            user = user_repo.get(self.session, self.row.user_id)
            held = user if user is not None and user.is_active else None
        return policy.Situation(
            self.session,
            self.settings,
            self.client,
            self.params,
            login,
            hinted_sub=self.parked.hinted_sub,
            held=held,
            logged_in_here=here,
        )

    def next(self) -> Next:
        """What the person still has to do (decided once per request to this interaction)."""
        if self._next is None:
            self._next = next_step(self.situation())
        return self._next

    def moved_on(self) -> None:
        """The interaction changed (a login, a factor): decide its next step afresh."""
        self._next = None


def next_step(situation: policy.Situation) -> Next:
    check = policy.first_unmet(situation)
    if check is None:
        return Next("complete", situation.login, situation.user)
    if check.prompt == "login":
        return Next("login", check=check.name)
    user = situation.user
    if check.prompt == "mfa":
        step: Step = "mfa" if mfa.has_mfa(situation.session, user.id) else "enrol"
        return Next(step, situation.login, user, check.name)
    return Next(check.prompt, situation.login, user, check.name)


def _hash(settings: Settings, value: str, purpose: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), value, purpose)


def park(session: Session, settings: Settings, parked: ParkedRequest, *, browser_value: str) -> str:
    """Store the request; returns the interaction id for the URL."""
    interaction_id = random_token("interaction")
    repo.add(
        session,
        AuthorizationRequest(
            id_hash=_hash(settings, interaction_id, "interaction"),
            browser_binding=_hash(settings, browser_value, "browser"),
            client_id=parked.request.client_id,
            params=parked.to_json(),
            expires_at=now() + timedelta(seconds=settings.interaction_lifetime),
        ),
    )
    return interaction_id


def open_interaction(
    session: Session,
    settings: Settings,
    interaction_id: str,
    *,
    browser_value: str | None,
    session_cookie_value: str | None,
) -> Interaction:
    """The live interaction for this browser, with its client and the browser's session;
    :class:`InteractionExpired` when there is none (unknown, used, expired, another browser's,
    or its client was disabled meanwhile)."""
    if not interaction_id or len(interaction_id) > 200 or not browser_value:
        raise InteractionExpired()
    row = repo.get(session, _hash(settings, interaction_id, "interaction"))
    if (
        row is None
        or row.consumed_at is not None
        or row.expires_at <= now()
        or row.browser_binding != _hash(settings, browser_value, "browser")
    ):
        raise InteractionExpired()
    client = client_repo.get_by_client_id(session, row.client_id)
    if client is None or client.status != "active":
        raise InteractionExpired()
    current = login_sessions.resolve(session, settings, session_cookie_value)
    return Interaction(
        session, settings, interaction_id, row, ParkedRequest.from_json(row.params), client, current
    )


def attach_login(ia: Interaction, login: LoginSession, user: User) -> None:
    """This interaction's person logged in (or stepped up) in ``login``."""
    ia.row.user_id = user.id
    ia.row.login_session_id = login.id
    ia.parked.held_amr = ia.parked.held_method = ia.parked.held_idp = None
    ia.row.params = ia.parked.to_json()
    ia.session.flush()
    ia.moved_on()


def hold_for_second_factor(
    ia: Interaction, user: User, amr: list[str], method: str, idp: str | None = None
) -> None:
    """A first factor was right; the login completes only after a second factor."""
    ia.row.user_id = user.id
    ia.row.login_session_id = None
    ia.parked.held_amr, ia.parked.held_method = list(amr), method
    ia.parked.held_idp = idp
    ia.row.params = ia.parked.to_json()
    ia.session.flush()
    ia.moved_on()
