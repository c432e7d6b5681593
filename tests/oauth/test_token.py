"""POST /token: code exchange with PKCE, refresh rotation, client credentials, every client
authentication method, and every refusal — over HTTP, with Authlib's client where it fits."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.core.clock import FrozenClock, set_clock
from sso.db.models import AuditEvent, Client, ClientAssertionJti, Grant, RefreshToken, User
from sso.web.app_runtime import AppRuntime
from tests.factories import create_client
from tests.oauth.helpers import (
    REDIRECT,
    TOKEN_URL,
    Env,
    assertion,
    assertion_form,
    client_key,
    code_form,
    issue_code,
    public_jwks,
    verify_id_token,
)

NO_STORE = ("no-store", "no-cache")


def rp_client(env: Env, client: Client, secret: str | None, method: str) -> OAuth2Client:
    """Authlib's relying-party client, wired to the app through the test transport."""
    return OAuth2Client(
        client.client_id,
        secret,
        token_endpoint_auth_method=method,
        transport=env.http._transport,
        base_url="http://testserver",
    )


def post(
    env: Env,
    data: dict[str, str] | bytes | str,
    *,
    auth: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    hdrs = dict(headers or {})
    if isinstance(data, bytes | str):
        hdrs.setdefault("content-type", "application/x-www-form-urlencoded")
        return env.http.post("/token", content=data, auth=auth, headers=hdrs)
    return env.http.post("/token", data=data, auth=auth, headers=hdrs)


def introspect(env: Env, token: str, client: Client, secret: str) -> dict[str, Any]:
    r = env.http.post("/introspect", data={"token": token}, auth=(client.client_id, secret))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def assert_error(r: Any, error: str, status: int = 400) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"


# ---------------------------------------------------------------------------- code exchange


def test_code_exchange_confidential_with_pkce(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    oauth = rp_client(env, client, secret, "client_secret_basic")
    token = oauth.fetch_token(
        TOKEN_URL,
        grant_type="authorization_code",
        code=issued.code,
        redirect_uri=REDIRECT,
        code_verifier=issued.verifier,
    )
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "openid profile email"
    assert 0 < token["expires_in"] <= 600
    assert "refresh_token" not in token  # openid without offline_access
    claims = verify_id_token(
        env,
        token["id_token"],
        client_id=client.client_id,
        nonce=issued.nonce,
        access_token=token["access_token"],
    )
    assert claims["sub"] == siti.id
    assert claims["sid"] == issued.sid
    assert claims["amr"] == ["pwd"] and claims["acr"] == "1"
    assert claims["auth_time"] <= claims["iat"]
    assert claims["_header"]["alg"] == "RS256"
    assert "email" not in claims  # scope claims come from /userinfo

    # The access token is an RFC 9068 JWT an API can check with the JWKS alone.
    at = jwt.decode(token["access_token"], env.jwks(), algorithms=["RS256"])
    assert at.header["typ"] == "at+jwt"
    for name in ("iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp", "auth_time"):
        assert name in at.claims, name
    assert at.claims["sub"] == siti.id and at.claims["client_id"] == client.client_id
    assert at.claims["aud"] == client.client_id and at.claims["iss"] == "http://testserver"
    assert at.claims["gid"] == issued.grant_id
    assert [e.target_id for e in env.events("token.issued")] == [issued.grant_id]


def test_token_response_headers(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    r = post(env, code_form(issued), auth=(client.client_id, secret))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert (r.headers["cache-control"], r.headers["pragma"]) == NO_STORE


def test_public_client_with_pkce(env: Env, public_rp: Client, siti: User) -> None:
    issued = issue_code(env.runtime, public_rp, siti)
    oauth = rp_client(env, public_rp, None, "none")
    token = oauth.fetch_token(
        TOKEN_URL,
        grant_type="authorization_code",
        code=issued.code,
        redirect_uri=REDIRECT,
        code_verifier=issued.verifier,
    )
    verify_id_token(
        env,
        token["id_token"],
        client_id=public_rp.client_id,
        nonce=issued.nonce,
        access_token=token["access_token"],
    )


def test_public_client_without_verifier_or_challenge_is_refused(
    env: Env, public_rp: Client, siti: User
) -> None:
    issued = issue_code(env.runtime, public_rp, siti)
    form = code_form(issued, client_id=public_rp.client_id)
    del form["code_verifier"]
    assert_error(post(env, form), "invalid_request")
    no_pkce = issue_code(env.runtime, public_rp, siti, pkce=False)
    assert_error(post(env, code_form(no_pkce, client_id=public_rp.client_id)), "invalid_grant")


def test_confidential_client_without_pkce(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti, pkce=False)
    r = post(env, code_form(issued), auth=(client.client_id, secret))
    assert r.status_code == 200, r.text


def test_wrong_verifier_then_right_one(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    wrong = code_form(issued, code_verifier="x" * 50)
    assert_error(post(env, wrong, auth=(client.client_id, secret)), "invalid_grant")
    assert_error(
        post(env, code_form(issued, code_verifier="short"), auth=(client.client_id, secret)),
        "invalid_request",
    )
    missing = code_form(issued)
    del missing["code_verifier"]
    assert_error(post(env, missing, auth=(client.client_id, secret)), "invalid_request")
    # A failed check does not burn the code (it is consumed only when tokens are issued).
    assert post(env, code_form(issued), auth=(client.client_id, secret)).status_code == 200


def test_plain_challenge_is_refused(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti, method="plain")
    assert_error(post(env, code_form(issued), auth=(client.client_id, secret)), "invalid_grant")


def test_verifier_without_challenge_is_refused(
    env: Env, rp: tuple[Client, str], siti: User
) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti, pkce=False)
    form = code_form(issued, code_verifier="v" * 50)
    assert_error(post(env, form, auth=(client.client_id, secret)), "invalid_request")


def test_redirect_uri_must_match_exactly(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    for uri in (REDIRECT + "/", REDIRECT.upper(), REDIRECT + "?x=1"):
        r = post(env, code_form(issued, redirect_uri=uri), auth=(client.client_id, secret))
        assert_error(r, "invalid_grant")
    missing = code_form(issued)
    del missing["redirect_uri"]
    assert_error(post(env, missing, auth=(client.client_id, secret)), "invalid_grant")


def test_code_of_another_client(
    env: Env, rp: tuple[Client, str], siti: User, runtime: AppRuntime, db: Session
) -> None:
    client, _ = rp
    other, other_secret = create_client(runtime, db, name="Other", redirect_uris=[REDIRECT])
    assert other_secret
    issued = issue_code(env.runtime, client, siti)
    r = post(env, code_form(issued), auth=(other.client_id, other_secret))
    assert_error(r, "invalid_grant")


def test_unknown_and_expired_code(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    assert_error(
        post(env, code_form(issued, code="tsso_ac_nope"), auth=(client.client_id, secret)),
        "invalid_grant",
    )
    clock = FrozenClock()
    previous = set_clock(clock)
    try:
        clock.advance(61)
        r = post(env, code_form(issued), auth=(client.client_id, secret))
    finally:
        set_clock(previous)
    assert_error(r, "invalid_grant")


def test_reused_code_revokes_what_the_first_redemption_issued(
    env: Env, runtime: AppRuntime, db: Session, siti: User
) -> None:
    client, secret = create_client(runtime, db, name="Offline", redirect_uris=[REDIRECT])
    assert secret
    issued = issue_code(env.runtime, client, siti, scope="openid offline_access")
    first = post(env, code_form(issued), auth=(client.client_id, secret))
    assert first.status_code == 200
    tokens = first.json()
    assert introspect(env, tokens["access_token"], client, secret)["active"] is True

    again = post(env, code_form(issued), auth=(client.client_id, secret))
    assert_error(again, "invalid_grant")

    assert introspect(env, tokens["access_token"], client, secret) == {"active": False}
    assert introspect(env, tokens["refresh_token"], client, secret) == {"active": False}
    r = post(
        env,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client.client_id, secret),
    )
    assert_error(r, "invalid_grant")
    reused = env.events("code.reused")
    assert [(e.target_id, e.outcome, e.client_id) for e in reused] == [
        (issued.grant_id, "failure", client.client_id)
    ]
    assert [e.target_id for e in env.events("grant.revoked")] == [issued.grant_id]
    with env.session() as s:
        grant = s.get(Grant, issued.grant_id)
        assert grant is not None and grant.revoked_at is not None


# ---------------------------------------------------------------------------- refresh tokens


def offline_tokens(
    env: Env,
    client: Client,
    secret: str,
    user: User,
    scope: str = "openid profile email offline_access",
) -> dict[str, Any]:
    issued = issue_code(env.runtime, client, user, scope=scope)
    r = post(env, code_form(issued), auth=(client.client_id, secret))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["refresh_token"].startswith("tsso_rt_")
    return body | {"grant_id": issued.grant_id}


def test_refresh_rotation_and_reuse_revokes_the_grant(
    env: Env, rp: tuple[Client, str], siti: User
) -> None:
    client, secret = rp
    first = offline_tokens(env, client, secret, siti)
    oauth = rp_client(env, client, secret, "client_secret_basic")
    second = oauth.refresh_token(TOKEN_URL, refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    claims = verify_id_token(
        env,
        second["id_token"],
        client_id=client.client_id,
        nonce=None,
        access_token=second["access_token"],
    )
    assert claims["sub"] == siti.id
    with env.session() as s:  # the new refresh token keeps the family's end
        rows = s.scalars(select(RefreshToken).order_by(RefreshToken.id)).all()
        assert rows[0].expires_at == rows[1].expires_at and rows[0].consumed_at is not None

    # The rotated token comes back: theft. Everything of the grant dies.
    replay = post(
        env,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(client.client_id, secret),
    )
    assert_error(replay, "invalid_grant")
    r = post(
        env,
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
        auth=(client.client_id, secret),
    )
    assert_error(r, "invalid_grant")
    for token in (first["access_token"], second["access_token"], second["refresh_token"]):
        assert introspect(env, token, client, secret) == {"active": False}
    assert [e.target_id for e in env.events("refresh_token.reused")] == [first["grant_id"]]


def _rotated(env: Env, client: Client, secret: str, user: User) -> tuple[dict[str, Any], str]:
    """Tokens of a fresh grant whose first refresh token was rotated: (tokens, current)."""
    first = offline_tokens(env, client, secret, user)
    r = post(
        env,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(client.client_id, secret),
    )
    assert r.status_code == 200, r.text
    return first, r.json()["refresh_token"]


def _refused_quietly(env: Env, client: Client, secret: str, *tokens: str) -> None:
    for token in tokens:
        r = post(
            env,
            {"grant_type": "refresh_token", "refresh_token": token},
            auth=(client.client_id, secret),
        )
        assert_error(r, "invalid_grant")
    assert env.events("refresh_token.reused") == []


def _grant_live(env: Env, grant_id: str) -> bool:
    with env.session() as s:
        grant = s.get(Grant, grant_id)
        assert grant is not None
        return grant.revoked_at is None


def test_revoked_expired_and_foreign_refresh_tokens_are_not_reuse(
    env: Env, rp: tuple[Client, str], siti: User, runtime: AppRuntime, db: Session
) -> None:
    """Issue 14 item 4: only a reuse revokes the grant and records refresh_token.reused."""
    client, secret = rp
    # Revoked (RFC 7009 here; a logout revokes the same way): the rotated and the current token.
    first, current = _rotated(env, client, secret, siti)
    r = env.http.post("/revoke", data={"token": current}, auth=(client.client_id, secret))
    assert r.status_code == 200
    _refused_quietly(env, client, secret, first["refresh_token"], current)

    # Another client presenting a rotated token: unknown to it, the owner's grant stays.
    first, current = _rotated(env, client, secret, siti)
    other, other_secret = create_client(runtime, db, name="Other", redirect_uris=[REDIRECT])
    assert other_secret
    _refused_quietly(env, other, other_secret, first["refresh_token"])
    assert _grant_live(env, first["grant_id"])

    # The person disabled: their old tokens are dead, not stolen.
    with env.session() as s:
        user = s.get(User, siti.id)
        assert user is not None
        user.status = "disabled"
        s.commit()
    _refused_quietly(env, client, secret, first["refresh_token"], current)
    assert _grant_live(env, first["grant_id"])
    with env.session() as s:
        user = s.get(User, siti.id)
        assert user is not None
        user.status = "active"
        s.commit()

    # Expired: the family's end has passed for the rotated and the current token.
    clock = FrozenClock()
    previous = set_clock(clock)
    try:
        clock.advance(runtime.settings.refresh_token_lifetime + 1)
        _refused_quietly(env, client, secret, first["refresh_token"], current)
    finally:
        set_clock(previous)
    assert _grant_live(env, first["grant_id"])

    # A real reuse is still one.
    first, current = _rotated(env, client, secret, siti)
    replay = post(
        env,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(client.client_id, secret),
    )
    assert_error(replay, "invalid_grant")
    assert [e.target_id for e in env.events("refresh_token.reused")] == [first["grant_id"]]
    assert not _grant_live(env, first["grant_id"])


def test_consuming_a_refresh_token_tells_why_it_failed(
    env: Env, rp: tuple[Client, str], siti: User, runtime: AppRuntime
) -> None:
    """The atomic consume says which refusal it was, so a rotation that loses to a concurrent
    logout is not mistaken for theft."""
    from sso.storage import grants as grant_repo

    client, secret = rp
    tokens = [offline_tokens(env, client, secret, siti)["refresh_token"] for _ in range(3)]
    hashes = [runtime.token_server.tokens.hash_refresh_token(t) for t in tokens]
    with env.session() as s:
        assert grant_repo.consume_refresh_token(s, hashes[0]) == grant_repo.LIVE
        assert grant_repo.consume_refresh_token(s, hashes[0]) == grant_repo.REUSED
        assert grant_repo.consume_refresh_token(s, "0" * 64) == grant_repo.UNKNOWN
        row = grant_repo.get_refresh_token(s, hashes[1])
        assert row is not None
        grant_repo.revoke_grant(s, row.grant_id)
        assert grant_repo.consume_refresh_token(s, hashes[1]) == grant_repo.REVOKED
        clock = FrozenClock()
        previous = set_clock(clock)
        try:
            clock.advance(runtime.settings.refresh_token_lifetime + 1)
            assert grant_repo.consume_refresh_token(s, hashes[2]) == grant_repo.EXPIRED
        finally:
            set_clock(previous)
        s.rollback()


def test_refresh_scope_may_narrow_but_not_widen(
    env: Env, rp: tuple[Client, str], siti: User
) -> None:
    client, secret = rp
    tokens = offline_tokens(env, client, secret, siti, scope="openid email offline_access")
    auth = (client.client_id, secret)
    wider = post(
        env,
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "openid email profile",
        },
        auth=auth,
    )
    assert_error(wider, "invalid_scope")
    narrow = post(
        env,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "email"},
        auth=auth,
    )
    assert narrow.status_code == 200, narrow.text
    body = narrow.json()
    assert body["scope"] == "email" and "id_token" not in body
    # The rotated refresh token still carries the original scope.
    again = post(
        env, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, auth=auth
    )
    assert again.json()["scope"] == "openid email offline_access"


def test_refresh_token_issuance_rule(
    env: Env, runtime: AppRuntime, db: Session, siti: User
) -> None:
    with_rt, s1 = create_client(
        runtime,
        db,
        name="A",
        redirect_uris=[REDIRECT],
        scope="openid profile offline_access api:read",
    )
    without_rt, s2 = create_client(
        runtime, db, name="B", redirect_uris=[REDIRECT], grant_types=["authorization_code"]
    )
    assert s1 and s2

    def exchange(client: Client, secret: str, scope: str) -> dict[str, Any]:
        issued = issue_code(env.runtime, client, siti, scope=scope)
        r = post(env, code_form(issued), auth=(client.client_id, secret))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    assert "refresh_token" not in exchange(with_rt, s1, "openid profile")
    assert "refresh_token" in exchange(with_rt, s1, "openid offline_access")
    plain_oauth = exchange(with_rt, s1, "api:read")
    assert "refresh_token" in plain_oauth and "id_token" not in plain_oauth
    assert "refresh_token" not in exchange(without_rt, s2, "openid offline_access")
    r = post(
        env,
        {"grant_type": "refresh_token", "refresh_token": "tsso_rt_x"},
        auth=(without_rt.client_id, s2),
    )
    assert_error(r, "unauthorized_client")


def test_refresh_token_of_another_client_and_of_a_disabled_user(
    env: Env, rp: tuple[Client, str], siti: User, runtime: AppRuntime, db: Session
) -> None:
    client, secret = rp
    tokens = offline_tokens(env, client, secret, siti)
    other, other_secret = create_client(runtime, db, name="Other", redirect_uris=[REDIRECT])
    assert other_secret
    r = post(
        env,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(other.client_id, other_secret),
    )
    assert_error(r, "invalid_grant")
    with env.session() as s:
        user = s.get(User, siti.id)
        assert user is not None
        user.status = "disabled"
        s.commit()
    r = post(
        env,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client.client_id, secret),
    )
    assert_error(r, "invalid_grant")
    with env.session() as s:  # the failed attempt did not rotate the token
        row = s.scalars(select(RefreshToken)).one()
        assert row.consumed_at is None


# ---------------------------------------------------------------------------- client credentials


def test_client_credentials(env: Env, runtime: AppRuntime, db: Session) -> None:
    client, secret = create_client(
        runtime,
        db,
        name="Batch job",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="api:read api:write",
    )
    assert secret
    oauth = rp_client(env, client, secret, "client_secret_basic")
    token = oauth.fetch_token(TOKEN_URL, grant_type="client_credentials", scope="api:read")
    assert token["scope"] == "api:read"
    assert "refresh_token" not in token and "id_token" not in token
    claims = jwt.decode(token["access_token"], env.jwks()).claims
    assert claims["sub"] == client.client_id and "auth_time" not in claims
    # Each exchange is a grant of its own, written with its token.issued audit row (one
    # statement on PostgreSQL).
    with env.session() as s:
        grant = s.get(Grant, claims["gid"])
        assert grant is not None and grant.client_id == client.client_id
        assert grant.user_id is None and grant.scope == "api:read"
        issued = s.scalars(select(AuditEvent).where(AuditEvent.target_id == grant.id)).one()
        assert issued.event == "token.issued" and issued.client_id == client.client_id
        assert issued.details == {"grant_type": "client_credentials", "refresh_token": False}
    default = post(env, {"grant_type": "client_credentials"}, auth=(client.client_id, secret))
    assert default.json()["scope"] == "api:read api:write"
    for scope in ("openid", "api:admin"):
        r = post(
            env,
            {"grant_type": "client_credentials", "scope": scope},
            auth=(client.client_id, secret),
        )
        assert_error(r, "invalid_scope")


def test_client_credentials_needs_the_grant_type(
    env: Env, rp: tuple[Client, str], public_rp: Client
) -> None:
    client, secret = rp
    r = post(env, {"grant_type": "client_credentials"}, auth=(client.client_id, secret))
    assert_error(r, "unauthorized_client")
    r = post(env, {"grant_type": "client_credentials", "client_id": public_rp.client_id})
    assert_error(r, "invalid_client", 401)


# ---------------------------------------------------------------------------- client authentication


def assert_invalid_client(r: Any) -> None:
    assert_error(r, "invalid_client", 401)
    assert r.headers["www-authenticate"].startswith('Basic realm="tangsel-sso"')


def test_client_secret_post(env: Env, runtime: AppRuntime, db: Session, siti: User) -> None:
    client, secret = create_client(
        runtime,
        db,
        name="Post",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="client_secret_post",
    )
    assert secret
    issued = issue_code(env.runtime, client, siti)
    oauth = rp_client(env, client, secret, "client_secret_post")
    token = oauth.fetch_token(
        TOKEN_URL,
        grant_type="authorization_code",
        code=issued.code,
        redirect_uri=REDIRECT,
        code_verifier=issued.verifier,
    )
    assert "id_token" in token
    # Only the registered method counts: Basic with the right secret is refused.
    again = issue_code(env.runtime, client, siti)
    assert_invalid_client(post(env, code_form(again), auth=(client.client_id, secret)))


def test_basic_client_cannot_use_post_or_none(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    assert_invalid_client(
        post(env, code_form(issued, client_id=client.client_id, client_secret=secret))
    )
    assert_invalid_client(post(env, code_form(issued, client_id=client.client_id)))


@pytest.mark.parametrize("case", ["wrong secret", "unknown client", "disabled", "no auth"])
def test_invalid_client_is_401_with_basic_challenge(
    env: Env, rp: tuple[Client, str], siti: User, case: str
) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    auth: tuple[str, str] | None = (client.client_id, secret)
    if case == "wrong secret":
        auth = (client.client_id, secret + "x")
    elif case == "unknown client":
        auth = ("nobody", secret)
    elif case == "disabled":
        with env.session() as s:
            row = s.get(Client, client.id)
            assert row is not None
            row.status = "disabled"
            s.commit()
    else:
        auth = None
    assert_invalid_client(post(env, code_form(issued), auth=auth))
    failures = env.events("client.auth_failed")
    assert len(failures) == 1 and failures[0].outcome == "failure"
    assert secret not in json.dumps(failures[0].details)


def test_malformed_basic_headers(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    bad_utf8 = base64.b64encode(b"\xff\xfe:" + secret.encode()).decode()
    nul = base64.b64encode(b"a\x00b:" + secret.encode()).decode()
    for header in (
        "Basic !!!",
        "Basic " + bad_utf8,
        "Basic " + nul,
        "Basic",
        "Bearer abc",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ):
        r = post(env, code_form(issued), headers={"authorization": header})
        assert_invalid_client(r)


def test_two_authentication_methods_are_refused(
    env: Env, rp: tuple[Client, str], siti: User
) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    r = post(env, code_form(issued, client_secret=secret), auth=(client.client_id, secret))
    assert_error(r, "invalid_request")


@pytest.fixture
def jwt_rp(runtime: AppRuntime, db: Session) -> tuple[Client, Any]:
    key = client_key()
    client, secret = create_client(
        runtime,
        db,
        name="Data portal",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="private_key_jwt",
        jwks=public_jwks(key),
    )
    assert secret is None
    return client, key


def test_private_key_jwt_with_authlib_client(
    env: Env, jwt_rp: tuple[Client, Any], siti: User
) -> None:
    client, key = jwt_rp
    issued = issue_code(env.runtime, client, siti)
    oauth = OAuth2Client(
        client.client_id,
        key,
        token_endpoint_auth_method="private_key_jwt",
        transport=env.http._transport,
        base_url="http://testserver",
    )
    oauth.register_client_auth_method(PrivateKeyJWT(TOKEN_URL))
    token = oauth.fetch_token(
        TOKEN_URL,
        grant_type="authorization_code",
        code=issued.code,
        redirect_uri=REDIRECT,
        code_verifier=issued.verifier,
    )
    verify_id_token(
        env,
        token["id_token"],
        client_id=client.client_id,
        nonce=issued.nonce,
        access_token=token["access_token"],
    )
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(ClientAssertionJti)) == 1


def test_private_key_jwt_replay_and_bad_assertions(
    env: Env, jwt_rp: tuple[Client, Any], siti: User
) -> None:
    client, key = jwt_rp
    cid = client.client_id
    issued = issue_code(env.runtime, client, siti)
    form = assertion_form(key, cid, jti="once")
    assert post(env, code_form(issued) | form).status_code == 200
    again = issue_code(env.runtime, client, siti)
    assert_invalid_client(post(env, code_form(again) | form))  # jti replayed

    t = int(datetime.now(UTC).timestamp())
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    payload = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"iss": cid, "sub": cid, "aud": TOKEN_URL, "exp": t + 60, "jti": "n"}
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    hs_key = OctKey.import_key(json.dumps(public_jwks(key)["keys"][0]).encode())
    hs256 = jwt.encode(
        {"alg": "HS256"},
        {"iss": cid, "sub": cid, "aud": TOKEN_URL, "exp": t + 60, "jti": "h"},
        hs_key,
        algorithms=["HS256"],
    )
    other_key = client_key("rp-key-1")  # same kid, different key
    bad = {
        "alg none": f"{header}.{payload}.",
        "HS256 with the public key": hs256,
        "foreign key": assertion(other_key, cid),
        "wrong aud": assertion(key, cid, aud="https://elsewhere.example/token"),
        "expired": assertion(key, cid, lifetime=-120),
        "exp too far": assertion(key, cid, lifetime=24 * 3600),
        "no exp": assertion(key, cid, exp=None),
        "iss differs": assertion(key, cid, iss="someone"),
        "garbage": "not.a.jwt",
        "binary": "\u00ff\u00fe",
    }
    for name, value in bad.items():
        form = {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": value,
        }
        r = post(env, code_form(again) | form)
        assert r.status_code == 401, (name, r.text)
        assert_invalid_client(r)
    # Issuer as audience is fine too; the code was never burnt by the failures above.
    r = post(env, code_form(again) | assertion_form(key, cid, aud=["http://testserver"]))
    assert r.status_code == 200, r.text


def test_private_key_jwt_jti_is_kept_when_the_request_fails(
    env: Env, jwt_rp: tuple[Client, Any], siti: User
) -> None:
    client, key = jwt_rp
    form = assertion_form(key, client.client_id, jti="kept")
    r = post(
        env,
        {"grant_type": "authorization_code", "code": "tsso_ac_unknown", "redirect_uri": REDIRECT}
        | form,
    )
    assert_error(r, "invalid_grant")
    issued = issue_code(env.runtime, client, siti)
    assert_invalid_client(post(env, code_form(issued) | form))


# ---------------------------------------------------------------------------- malformed requests


def test_unsupported_and_missing_grant_type(env: Env, rp: tuple[Client, str]) -> None:
    client, secret = rp
    r = post(
        env,
        {"grant_type": "password", "username": "a", "password": "b"},
        auth=(client.client_id, secret),
    )
    assert_error(r, "unsupported_grant_type")
    assert_error(post(env, {"code": "x"}, auth=(client.client_id, secret)), "invalid_request")
    assert_error(
        post(env, {"grant_type": "authorization_code"}, auth=(client.client_id, secret)),
        "invalid_request",
    )
    assert any(
        e.details.get("error") == "unsupported_grant_type" for e in env.events("token.refused")
    )


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=authorization_code&grant_type=authorization_code&code=x",
        b"grant_type=authorization_code&code=a&code=b",
        b"grant_type=authorization_code&code=%ff%fe",
        b"\xff\xfe\xfd",
        b"grant_type=authorization_code&code=a%00b",
        b"=" * 5000,
        b"&".join(b"p%d=1" % i for i in range(200)),
        b"grant_type=" + b"x" * 70000,
    ],
)
def test_malformed_bodies_are_invalid_request(
    env: Env, rp: tuple[Client, str], body: bytes
) -> None:
    client, secret = rp
    assert_error(post(env, body, auth=(client.client_id, secret)), "invalid_request")


def test_wrong_content_types(env: Env, rp: tuple[Client, str]) -> None:
    client, secret = rp
    r = env.http.post(
        "/token", json={"grant_type": "client_credentials"}, auth=(client.client_id, secret)
    )
    assert_error(r, "invalid_request")
    r = env.http.post(
        "/token",
        files={"grant_type": (None, "client_credentials")},
        auth=(client.client_id, secret),
    )
    assert_error(r, "invalid_request")
    r = post(
        env,
        b"grant_type=client_credentials",
        auth=(client.client_id, secret),
        headers={"content-type": "application/x-www-form-urlencoded; charset=latin-1"},
    )
    assert_error(r, "invalid_request")
    assert env.http.get("/token").status_code == 405


def test_empty_values_count_as_omitted(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti)
    r = post(env, code_form(issued, scope="", state=""), auth=(client.client_id, secret))
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------------------- ID token details


def test_es256_id_token_and_claims_parameter(
    env: Env, runtime: AppRuntime, db: Session, siti: User
) -> None:
    client, secret = create_client(
        runtime, db, name="EC", redirect_uris=[REDIRECT], id_token_signed_response_alg="ES256"
    )
    assert secret
    claims_request = {
        "id_token": {
            "email": {"essential": True},
            "phone_number": None,
            "unknown_claim": None,
            "name": None,
        }
    }
    issued = issue_code(env.runtime, client, siti, scope="openid email", claims=claims_request)
    r = post(env, code_form(issued), auth=(client.client_id, secret))
    body = r.json()
    claims = verify_id_token(
        env,
        body["id_token"],
        client_id=client.client_id,
        nonce=issued.nonce,
        access_token=body["access_token"],
    )
    assert claims["_header"]["alg"] == "ES256"
    assert claims["email"] == "siti@example.id"
    assert "email_verified" not in claims  # each claim is asked for on its own
    # Only claims inside the granted scopes: no phone_number, no name; unknown ones ignored.
    assert "phone_number" not in claims and "name" not in claims
    assert "unknown_claim" not in claims


def test_no_nonce_means_no_nonce_claim(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    issued = issue_code(env.runtime, client, siti, nonce=None)
    body = post(env, code_form(issued), auth=(client.client_id, secret)).json()
    verify_id_token(
        env,
        body["id_token"],
        client_id=client.client_id,
        nonce=None,
        access_token=body["access_token"],
    )
