"""Every kind of single-use row, described the same way for the contract suite: how to make a
live one, how to read it, and how its repository spends it.

``consume`` calls the repository's public function (what the services call) and reports its
answer as an :class:`Outcome`. Where the repository only answers yes or no, the reason for a
"no" is asked of its :class:`SingleUse` afterwards (a no-op for a row that cannot be spent), so
the suite checks both agree."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import (
    AccountToken,
    AuthorizationCode,
    AuthorizationRequest,
    DeviceAuthorization,
    OneTimeCode,
    RefreshToken,
    UpstreamLogin,
    WebAuthnChallenge,
)
from sso.db.models.account_tokens import PASSWORD_RESET
from sso.db.models.devices import APPROVED
from sso.db.models.one_time_codes import VERIFY_EMAIL
from sso.storage import (
    account_tokens,
    devices,
    grants,
    interactions,
    mfa,
    one_time_codes,
    upstreams,
)
from sso.storage.single_use import Outcome, SingleUse


@dataclass(frozen=True)
class Parents:
    """Rows a single-use row may point at, made once per test."""

    user_id: str
    grant_id: str
    upstream_id: str


@dataclass(frozen=True)
class Kind:
    name: str
    spec: SingleUse[Any]
    add: Callable[[Session, Parents, str, datetime], None]
    get: Callable[[Session, str], Any]
    consume: Callable[[Session, str], Outcome]
    match: dict[str, Any] = field(default_factory=dict)  # the spec's match columns

    def why_not(self, session: Session, key: str) -> Outcome:
        return self.spec.consume_once(session, key, **self.match)


def new_key() -> str:
    return secrets.token_hex(32)


def _or_reason(
    kind_spec: SingleUse[Any], won: bool, session: Session, key: str, **match: Any
) -> Outcome:
    return Outcome.OK if won else kind_spec.consume_once(session, key, **match)


# ---------------------------------------------------------------------------- authorization codes
def _add_code(session: Session, parents: Parents, key: str, expires_at: datetime) -> None:
    grant = grants.get_grant(session, parents.grant_id)
    assert grant is not None
    grants.add_code(
        session,
        code_hash=key,
        grant=grant,
        redirect_uri="https://rp.example.id/callback",
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
        lifetime=60,
    )
    row = grants.get_code(session, key)
    assert row is not None
    row.expires_at = expires_at
    session.flush()


def _consume_code(session: Session, key: str) -> Outcome:
    return grants.consume_code(session, key).status


# ---------------------------------------------------------------------------- refresh tokens
def _add_refresh(session: Session, parents: Parents, key: str, expires_at: datetime) -> None:
    grant = grants.get_grant(session, parents.grant_id)
    assert grant is not None
    grants.add_refresh_token(
        session, token_hash=key, grant=grant, scope="openid", lifetime=0, expires_at=expires_at
    )


_REFRESH_OUTCOMES = {
    grants.LIVE: Outcome.OK,
    grants.REUSED: Outcome.REUSED,
    grants.EXPIRED: Outcome.EXPIRED,
    grants.UNKNOWN: Outcome.UNKNOWN,
    grants.REVOKED: Outcome.REFUSED,
}


def _consume_refresh(session: Session, key: str) -> Outcome:
    return _REFRESH_OUTCOMES[grants.consume_refresh_token(session, key)]


def _get_refresh(session: Session, key: str) -> RefreshToken | None:
    return grants.get_refresh_token(session, key)


# ---------------------------------------------------------------------------- interactions
def _add_interaction(session: Session, parents: Parents, key: str, expires_at: datetime) -> None:
    interactions.add(
        session,
        AuthorizationRequest(
            id_hash=key,
            browser_binding="b" * 64,
            client_id="client",
            params={"scope": "openid"},
            expires_at=expires_at,
        ),
    )


def _consume_interaction(session: Session, key: str) -> Outcome:
    return _or_reason(interactions.INTERACTIONS, interactions.consume(session, key), session, key)


# ---------------------------------------------------------------------------- account tokens
def _add_account_token(session: Session, parents: Parents, key: str, expires_at: datetime) -> None:
    account_tokens.add(
        session,
        kind=PASSWORD_RESET,
        token_hash=key,
        user_id=parents.user_id,
        expires_at=expires_at,
        email="siti@example.id",
    )


_ACCOUNT_OUTCOMES = {
    "ok": Outcome.OK,
    "used": Outcome.REUSED,
    "expired": Outcome.EXPIRED,
    "unknown": Outcome.UNKNOWN,
    "voided": Outcome.REFUSED,
}


def _consume_account_token(session: Session, key: str) -> Outcome:
    return _ACCOUNT_OUTCOMES[account_tokens.consume(session, PASSWORD_RESET, key).status]


# ---------------------------------------------------------------------------- WebAuthn challenges
def _add_challenge(session: Session, parents: Parents, key: str, expires_at: datetime) -> None:
    mfa.add_challenge(
        session,
        WebAuthnChallenge(
            handle_hash=key,
            purpose="authenticate",
            user_id=parents.user_id,
            challenge="Y2hhbGxlbmdl",
            data={},
            expires_at=expires_at,
        ),
    )


def _consume_challenge(session: Session, key: str) -> Outcome:
    won = mfa.consume_challenge(session, key, "authenticate") is not None
    return _or_reason(mfa.CHALLENGES, won, session, key, purpose="authenticate")


# ---------------------------------------------------------------------------- device codes
def _add_device(session: Session, parents: Parents, key: str, expires_at: datetime) -> None:
    """An approved request (the one state /token redeems), with its grant."""
    added = devices.add(
        session,
        DeviceAuthorization(
            device_code_hash=key,
            user_code_hash=new_key(),
            client_id="tv",
            scope="openid",
            status=APPROVED,
            user_id=parents.user_id,
            grant_id=parents.grant_id,
            approved_at=now(),
            expires_at=expires_at,
        ),
    )
    assert added
    session.flush()


def _consume_device(session: Session, key: str) -> Outcome:
    return _or_reason(devices.APPROVED_REQUESTS, devices.consume(session, key), session, key)


# ---------------------------------------------------------------------------- one-time codes
def _add_one_time_code(session: Session, parents: Parents, key: str, expires_at: datetime) -> None:
    t = now()
    one_time_codes.add(
        session,
        OneTimeCode(
            id=key,
            purpose=VERIFY_EMAIL,
            channel="email",
            destination="siti@example.id",
            user_id=parents.user_id,
            code_hash="c" * 64,
            sent_at=t,
            expires_at=expires_at,
        ),
    )


def _consume_one_time_code(session: Session, key: str) -> Outcome:
    won = one_time_codes.consume(session, key, now())
    return _or_reason(one_time_codes.CHALLENGES, won, session, key)


# ---------------------------------------------------------------------------- upstream logins
def _add_upstream_login(session: Session, parents: Parents, key: str, expires_at: datetime) -> None:
    upstreams.add_login(
        session,
        UpstreamLogin(
            id_hash=key,
            browser_binding="b" * 64,
            upstream_id=parents.upstream_id,
            purpose="login",
            nonce="n" * 32,
            code_verifier_encrypted="encrypted",
            expires_at=expires_at,
        ),
    )


def _consume_upstream_login(session: Session, key: str) -> Outcome:
    return _or_reason(upstreams.LOGINS, upstreams.consume_login(session, key), session, key)


def _getter(model: type[Any]) -> Callable[[Session, str], Any]:
    def get(session: Session, key: str) -> Any:
        return session.get(model, key, populate_existing=True)

    return get


KINDS: tuple[Kind, ...] = (
    Kind("authorization_code", grants.CODES, _add_code, _getter(AuthorizationCode), _consume_code),
    Kind("refresh_token", grants.REFRESH_TOKENS, _add_refresh, _get_refresh, _consume_refresh),
    Kind(
        "interaction",
        interactions.INTERACTIONS,
        _add_interaction,
        _getter(AuthorizationRequest),
        _consume_interaction,
    ),
    Kind(
        "account_token",
        account_tokens.TOKENS,
        _add_account_token,
        _getter(AccountToken),
        _consume_account_token,
        {"kind": PASSWORD_RESET},
    ),
    Kind(
        "webauthn_challenge",
        mfa.CHALLENGES,
        _add_challenge,
        _getter(WebAuthnChallenge),
        _consume_challenge,
        {"purpose": "authenticate"},
    ),
    Kind(
        "device_code",
        devices.APPROVED_REQUESTS,
        _add_device,
        _getter(DeviceAuthorization),
        _consume_device,
    ),
    Kind(
        "one_time_code",
        one_time_codes.CHALLENGES,
        _add_one_time_code,
        _getter(OneTimeCode),
        _consume_one_time_code,
    ),
    Kind(
        "upstream_login",
        upstreams.LOGINS,
        _add_upstream_login,
        _getter(UpstreamLogin),
        _consume_upstream_login,
    ),
)
