"""What a step of a login interaction comes to, for the route to render (the service decided;
the route only draws it). Messages are catalogue keys; a message for a guessing limit takes
``{minutes}``, computed by the route from ``retry_after``."""

from __future__ import annotations

from dataclasses import dataclass

from sso.db.models import User
from sso.oidc.answer import AuthorizationResponse
from sso.oidc.interaction import Step


@dataclass(frozen=True)
class Proceed:
    """Go on with the interaction (its page says what comes next). ``session_cookie``: a login
    session started, set its cookie. ``recovery_codes``: a second factor was just enrolled;
    show these once before going on."""

    session_cookie: str | None = None
    recovery_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refused:
    """Show the same form again with ``message``; ``retry_after`` seconds when a guessing limit
    answered (say it in the ``Retry-After`` header too)."""

    message: str
    status: int = 401
    retry_after: int = 0


@dataclass(frozen=True)
class WrongStep:
    """The interaction is not at this step (another tab moved it on): show where it is."""


@dataclass(frozen=True)
class Show:
    """Render the page of ``step`` for ``user`` (the login page has no user yet)."""

    step: Step
    user: User | None


@dataclass(frozen=True)
class Answer:
    """The interaction is over: send the browser back with this response."""

    response: AuthorizationResponse


@dataclass(frozen=True)
class AppRefused:
    """The app is in development and may not log this person in (the interaction is over)."""


StepOutcome = Proceed | Refused | WrongStep
