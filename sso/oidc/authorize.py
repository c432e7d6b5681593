"""The authorization request (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636, RFC 9700, RFC 9207).

Checks are small named functions run in a visible order. Until the client and redirect URI are
known to be valid, an error is shown to the person (:class:`AuthorizationPageError`) and never
redirected; after that, errors go back to the client (:class:`AuthorizationRedirectError`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from sso.db.models import Client
from sso.oauth import redirect_uris
from sso.storage import clients as client_repo

MAX_PARAM_LENGTH = 4096
# "create": OpenID Connect's Initiating User Registration 1.0 (the registration page instead of
# the login form; the hotspot's sign-up uses it, as Keycloak supports it).
SUPPORTED_PROMPTS = {"none", "login", "consent", "select_account", "create"}
SUPPORTED_RESPONSE_MODES = ("query", "form_post")
SUPPORTED_UI_LOCALES = ("id", "en")
PKCE_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
KNOWN_CLAIM_TARGETS = ("userinfo", "id_token")


class AuthorizationPageError(Exception):
    """Shown to the person; the client is unknown or the redirect URI cannot be trusted."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(detail)
        self.message = message
        self.detail = detail


class AuthorizationRedirectError(Exception):
    """Sent back to the (validated) redirect URI as ``error`` and ``error_description``."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        redirect_uri: str,
        state: str | None,
        response_mode: str = "query",
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state
        self.response_mode = response_mode


@dataclass
class AuthorizationParams:
    """A validated authorization request, JSON-serialisable so it can be parked."""

    client_id: str
    redirect_uri: str
    scope: list[str]
    state: str | None = None
    response_mode: str = "query"
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    prompt: list[str] = field(default_factory=list)
    max_age: int | None = None
    login_hint: str | None = None
    id_token_hint: str | None = None
    ui_locales: str | None = None
    claims: dict[str, Any] | None = None
    acr_values: list[str] = field(default_factory=list)
    # False when a plain OAuth request omitted redirect_uri (the registered one is used): the
    # token request then need not name it (RFC 6749 §4.1.3). True for requests parked before
    # this field existed, the stricter reading.
    redirect_uri_given: bool = True
    # Set for a device's request (RFC 8628, sso.oauth.device): completing the interaction
    # approves that device authorization instead of issuing a code.
    device_code_hash: str | None = None
    # The device's user code as the person typed it at /device (normalised, ``ABCD-EFGH``), for
    # the consent page to show (RFC 8628 §5.4). Short-lived and no longer a credential once bound
    # to this person's interaction; never logged.
    user_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthorizationParams:
        return cls(**dict(data))


def single_values(multi: Mapping[str, Sequence[str]]) -> tuple[dict[str, str], list[str]]:
    """Collapse parameters to single values; returns (values, names given more than once).

    OAuth parameters MUST NOT be included more than once (RFC 6749 §3.1); empty values count
    as absent."""
    values: dict[str, str] = {}
    duplicated: list[str] = []
    for name, items in multi.items():
        present = [v for v in items if v != ""]
        if len(present) > 1:
            duplicated.append(name)
        if present:
            values[name] = present[0]
    return values, duplicated


# ---------------------------------------------------------------------- checks before trust
def check_client(session: Session, values: Mapping[str, str]) -> Client:
    client_id = values.get("client_id")
    if not client_id:
        raise AuthorizationPageError("error.unknown_client", "missing client_id")
    if len(client_id) > 64 or not client_id.isprintable():  # PostgreSQL refuses NUL in text
        raise AuthorizationPageError("error.unknown_client", "client_id too long or malformed")
    client = client_repo.get_by_client_id(session, client_id)
    if client is None or client.status != "active":
        raise AuthorizationPageError(
            "error.unknown_client", f"unknown or inactive client {client_id!r}"
        )
    return client


def check_redirect_uri(client: Client, values: Mapping[str, str]) -> str:
    presented = values.get("redirect_uri")
    if not presented:
        # OIDC requires it; plain OAuth may omit it when exactly one is registered.
        if "openid" not in values.get("scope", "").split() and len(client.redirect_uris) == 1:
            return client.redirect_uris[0]
        raise AuthorizationPageError("error.invalid_redirect_uri", "missing redirect_uri")
    # Exact match; the port varies only for a native app's loopback URI (RFC 8252 §7.3).
    if redirect_uris.accepts(
        client.redirect_uris, presented, app_kind=client.app_kind, public=client.is_public
    ):
        return presented
    raise AuthorizationPageError("error.invalid_redirect_uri", "redirect_uri is not registered")


# ---------------------------------------------------------------------- checks after trust
class _Fail:
    """Raises redirect errors bound to the validated redirect URI."""

    def __init__(self, redirect_uri: str, state: str | None, response_mode: str) -> None:
        self.redirect_uri, self.state, self.response_mode = redirect_uri, state, response_mode

    def __call__(self, error: str, description: str) -> AuthorizationRedirectError:
        return AuthorizationRedirectError(
            error,
            description,
            redirect_uri=self.redirect_uri,
            state=self.state,
            response_mode=self.response_mode,
        )


def check_response_mode(values: Mapping[str, str]) -> str | None:
    mode = values.get("response_mode", "query")
    return mode if mode in SUPPORTED_RESPONSE_MODES else None


def check_duplicates(duplicated: list[str], fail: _Fail) -> None:
    if duplicated:
        raise fail(
            "invalid_request", f"parameter given more than once: {', '.join(sorted(duplicated))}"
        )


def check_lengths(values: Mapping[str, str], fail: _Fail) -> None:
    for name, value in values.items():
        if len(value) > MAX_PARAM_LENGTH:
            raise fail("invalid_request", f"parameter {name} is too long")


def check_unsupported_objects(values: Mapping[str, str], fail: _Fail) -> None:
    if "request" in values:
        raise fail("request_not_supported", "request objects are not supported")
    if "request_uri" in values:
        raise fail("request_uri_not_supported", "request_uri is not supported")
    if "registration" in values:
        raise fail("registration_not_supported", "registration parameter is not supported")


def check_response_type(client: Client, values: Mapping[str, str], fail: _Fail) -> None:
    response_type = values.get("response_type")
    if not response_type:
        raise fail("invalid_request", "missing response_type")
    if response_type != "code":
        # Implicit and hybrid flows are not offered (RFC 9700 §2.1.2).
        raise fail("unsupported_response_type", "only response_type=code is supported")
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "client may not use the authorization code grant")


def check_scope(client: Client, values: Mapping[str, str], fail: _Fail) -> list[str]:
    requested = list(dict.fromkeys(values.get("scope", "").split()))
    allowed = set(client.scopes)
    # Scopes the client is not registered for are ignored (RFC 6749 §3.3 lets us narrow);
    # the token response says what was granted.
    granted = [s for s in requested if s in allowed]
    if not granted:
        raise fail("invalid_scope", "no requested scope is allowed for this client")
    return granted


def check_pkce(
    client: Client, values: Mapping[str, str], fail: _Fail
) -> tuple[str | None, str | None]:
    challenge = values.get("code_challenge")
    method = values.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise fail("invalid_request", "code_challenge_method without code_challenge")
        if client.is_public:
            raise fail("invalid_request", "PKCE (code_challenge with S256) is required")
        return None, None
    method = method or "plain"
    if method != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256")
    if not PKCE_CHALLENGE_RE.fullmatch(challenge):
        raise fail("invalid_request", "malformed code_challenge")
    return challenge, method


def check_prompt(values: Mapping[str, str], fail: _Fail) -> list[str]:
    prompt = values.get("prompt", "").split()
    unknown = [p for p in prompt if p not in SUPPORTED_PROMPTS]
    if unknown:
        raise fail("invalid_request", f"unsupported prompt value {unknown[0]!r}")
    if "none" in prompt and len(prompt) > 1:
        raise fail("invalid_request", "prompt=none cannot be combined with other values")
    return prompt


def check_max_age(values: Mapping[str, str], fail: _Fail) -> int | None:
    raw = values.get("max_age")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 10:
        raise fail("invalid_request", "max_age must be a non-negative integer")
    return int(raw)


def check_claims(values: Mapping[str, str], fail: _Fail) -> dict[str, Any] | None:
    raw = values.get("claims")
    if raw is None:
        return None
    try:
        claims = json.loads(raw)
    except ValueError:
        raise fail("invalid_request", "claims is not valid JSON") from None
    if not isinstance(claims, dict):
        raise fail("invalid_request", "claims must be a JSON object")
    cleaned: dict[str, Any] = {}
    for target in KNOWN_CLAIM_TARGETS:
        member = claims.get(target)
        if member is None:
            continue
        if not isinstance(member, dict):
            raise fail("invalid_request", f"claims.{target} must be an object")
        for name, spec in member.items():
            if spec is not None and not isinstance(spec, dict):
                raise fail("invalid_request", f"claims.{target}.{name} must be null or an object")
        cleaned[target] = member
    return cleaned


def check_ui_locales(values: Mapping[str, str]) -> str | None:
    raw = values.get("ui_locales")
    if not raw:
        return None
    for tag in raw.split():
        base = tag.split("-")[0].lower()
        if base in SUPPORTED_UI_LOCALES:
            return base
    return None


def validate(
    session: Session, multi: Mapping[str, Sequence[str]]
) -> tuple[Client, AuthorizationParams]:
    """Run every check in order; returns the client and the validated request."""
    values, duplicated = single_values(multi)
    if "client_id" in duplicated or "redirect_uri" in duplicated:
        raise AuthorizationPageError(
            "error.invalid_request", "client_id or redirect_uri duplicated"
        )
    client = check_client(session, values)
    redirect_uri = check_redirect_uri(client, values)
    state = values.get("state")
    mode = check_response_mode(values)
    fail = _Fail(
        redirect_uri, state if state and len(state) <= MAX_PARAM_LENGTH else None, mode or "query"
    )
    if mode is None:
        raise fail("invalid_request", "unsupported response_mode")
    check_duplicates(duplicated, fail)
    check_lengths(values, fail)
    check_unsupported_objects(values, fail)
    check_response_type(client, values, fail)
    scope = check_scope(client, values, fail)
    challenge, method = check_pkce(client, values, fail)
    prompt = check_prompt(values, fail)
    max_age = check_max_age(values, fail)
    claims = check_claims(values, fail)
    nonce = values.get("nonce")
    if "openid" not in scope:
        nonce, claims = None, None
    params = AuthorizationParams(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        redirect_uri_given="redirect_uri" in values,
        scope=scope,
        state=state,
        response_mode=mode,
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method=method,
        prompt=prompt,
        max_age=max_age,
        login_hint=values.get("login_hint"),
        id_token_hint=values.get("id_token_hint"),
        ui_locales=check_ui_locales(values),
        claims=claims,
        acr_values=values.get("acr_values", "").split(),
    )
    return client, params


def redirect_error(
    params: AuthorizationParams, error: str, description: str
) -> AuthorizationRedirectError:
    return _Fail(params.redirect_uri, params.state, params.response_mode)(error, description)
