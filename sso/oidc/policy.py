"""The interaction policy: what a person must still do before an authorization request can be
answered, as an ordered list of named checks (the node-oidc-provider model,
``lib/helpers/interaction_policy``; written anew here).

The same list decides at ``/authorize`` (answer at once, refuse a ``prompt=none`` request with
the first unmet check's error, or park the request) and inside the interaction (which page
comes next). Each check names the prompt that satisfies it and the error a ``prompt=none``
request gets when it is unmet (OIDC Core §3.1.2.6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from sso.accounts import mfa
from sso.config import Settings
from sso.core.clock import now
from sso.db.models import Client, LoginSession, User
from sso.oauth import app_review
from sso.oidc.authorize import AuthorizationParams, redirect_error
from sso.oidc.keys import InvalidJWT, KeyService, UnknownKey
from sso.storage import consents as consent_repo

Prompt = Literal["login", "mfa", "refused", "consent"]

# The hinted subject of an ``id_token_hint`` signed by a key we no longer publish: it names
# someone we cannot confirm, so whoever is logged in must log in again (never answered at once).
UNVERIFIABLE_HINT = ""


@dataclass(frozen=True)
class Situation:
    """What the checks look at. ``login`` is the session the answer would be bound to; ``held``
    a person who proved a first factor in this interaction and owes a second (no session yet);
    ``logged_in_here`` says the login happened inside this interaction, which meets the
    checks that ask for a (new) login."""

    session: Session
    settings: Settings
    client: Client
    params: AuthorizationParams
    login: tuple[LoginSession, User] | None
    hinted_sub: str | None = None
    held: User | None = None
    logged_in_here: bool = False

    @property
    def user(self) -> User:
        """The person the request is for (only asked once ``no_session`` is met)."""
        if self.held is not None:
            return self.held
        assert self.login is not None, "no_session comes first"
        return self.login[1]


@dataclass(frozen=True)
class Check:
    name: str
    prompt: Prompt
    error: str  # the prompt=none error
    description: str
    unmet: Callable[[Situation], bool]


def requested_acr(params: AuthorizationParams) -> str | None:
    """The level the client asked for: the first known value of ``acr_values`` (its most
    preferred), or an essential ``acr`` claim request (OIDC Core §5.5.1.1)."""
    wanted = [v for v in params.acr_values if v in (mfa.ACR_PASSWORD, mfa.ACR_MFA)]
    claim = (params.claims or {}).get("id_token", {}).get("acr")
    if isinstance(claim, dict) and claim.get("essential"):
        values = claim.get("values") or ([claim["value"]] if "value" in claim else [])
        if isinstance(values, list) and values and all(v == mfa.ACR_MFA for v in values):
            return mfa.ACR_MFA
    return wanted[0] if wanted else None


def second_factor_after_first(
    session: Session, settings: Settings, params: AuthorizationParams, user: User
) -> bool:
    """After a first factor (password, a code, an upstream login below acr 2): is a second
    one owed before any session starts? (the request asks acr 2, the person has a factor, or
    the policy says they must have one)."""
    return (
        requested_acr(params) == mfa.ACR_MFA
        or mfa.has_mfa(session, user.id)
        or mfa.mfa_required(session, settings, user)
    )


def hint_subject(
    session: Session, keys: KeyService, settings: Settings, params: AuthorizationParams
) -> str | None:
    """``sub`` of a valid ``id_token_hint`` (an expired one still identifies the person);
    :data:`UNVERIFIABLE_HINT` when its key is no longer published (an old ID token).

    The key set is read in the request's ``session``: a second session here would wait for
    the write lock the request's holds on SQLite, and take a second connection elsewhere."""
    if not params.id_token_hint:
        return None
    try:
        claims = keys.verify_jwt(
            params.id_token_hint,
            issuer=settings.issuer_url,
            check_exp=False,
            typ=("jwt", None),
            session=session,
        )
    except UnknownKey:
        return UNVERIFIABLE_HINT
    except InvalidJWT:
        raise redirect_error(
            params, "invalid_request", "id_token_hint is not a valid ID token"
        ) from None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


# ---------------------------------------------------------------------- the checks
def _no_session(s: Situation) -> bool:
    return s.login is None and s.held is None


def _second_factor_owed(s: Situation) -> bool:
    return s.held is not None


def _login_prompted(s: Situation) -> bool:
    return not s.logged_in_here and bool({"login", "select_account"} & set(s.params.prompt))


def _max_age(s: Situation) -> bool:
    if s.logged_in_here or s.params.max_age is None or s.login is None:
        return False
    return (now() - s.login[0].auth_time).total_seconds() > s.params.max_age


def _hint_names_someone_else(s: Situation) -> bool:
    return not s.logged_in_here and s.hinted_sub is not None and s.hinted_sub != s.user.id


def _app_in_development(s: Situation) -> bool:
    # An app in development logs in its owner and admins only (sso.oauth.app_review).
    return not app_review.may_log_in(s.session, s.client, s.user)


def _acr_not_met(s: Situation) -> bool:
    """A live session below the level this request (or the MFA policy) needs: step-up."""
    assert s.login is not None
    if s.login[0].acr == mfa.ACR_MFA:
        return False
    return requested_acr(s.params) == mfa.ACR_MFA or mfa.mfa_required(s.session, s.settings, s.user)


def _consent_needed(s: Situation) -> bool:
    if s.params.device_code_hash is not None:
        # RFC 8628 §5.4 (remote phishing): a user code can be sent to a victim by an attacker
        # holding the device. The person confirms which app and device they connect every
        # time, even for trusted clients and remembered consent.
        return True
    if "consent" in s.params.prompt:
        # OIDC Core §3.1.2.1: the client asked that the person be prompted for consent; that
        # holds for first-party (trusted) clients and over a remembered consent too.
        return True
    if s.client.trusted:
        return False
    remembered = consent_repo.get(s.session, s.user.id, s.client.client_id)
    return remembered is None or not set(s.params.scope) <= set(remembered.scopes)


NOT_LOGGED_IN = "the person is not logged in"
CHECKS: tuple[Check, ...] = (
    Check("no_session", "login", "login_required", NOT_LOGGED_IN, _no_session),
    Check(
        "second_factor_owed",
        "mfa",
        "interaction_required",
        "a second factor is required",
        _second_factor_owed,
    ),
    Check("prompt_login", "login", "login_required", NOT_LOGGED_IN, _login_prompted),
    Check("max_age", "login", "login_required", NOT_LOGGED_IN, _max_age),
    Check("id_token_hint", "login", "login_required", NOT_LOGGED_IN, _hint_names_someone_else),
    Check(
        "app_in_development",
        "refused",
        "access_denied",
        "the app is in development",
        _app_in_development,
    ),
    Check("acr", "mfa", "interaction_required", "a second factor is required", _acr_not_met),
    Check("consent", "consent", "consent_required", "consent is required", _consent_needed),
)


def first_unmet(situation: Situation) -> Check | None:
    """The first check in :data:`CHECKS` order that is not met, or None: answer now."""
    for check in CHECKS:
        if check.unmet(situation):
            return check
    return None
