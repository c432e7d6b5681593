"""POST /introspect (RFC 7662) and POST /revoke (RFC 7009)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.core.clock import FrozenClock, set_clock
from sso.db.models import Client, RevokedAccessToken, User
from sso.runtime import Runtime
from tests.factories import create_client
from tests.oauth.helpers import (
    REDIRECT,
    Env,
    assertion_form,
    client_key,
    code_form,
    issue_code,
)
from tests.oauth.helpers import public_jwks as jwks_of


def tokens_for(
    env: Env,
    client: Client,
    secret: str | None,
    user: User,
    scope: str = "openid profile offline_access",
) -> dict[str, Any]:
    issued = issue_code(env.runtime, client, user, scope=scope)
    auth = (client.client_id, secret) if secret else None
    form = code_form(issued) if secret else code_form(issued, client_id=client.client_id)
    r = env.http.post("/token", data=form, auth=auth or httpx2.USE_CLIENT_DEFAULT)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body | {"grant_id": issued.grant_id}


def introspect(env: Env, token: str, auth: tuple[str, str] | None, **extra: str) -> Any:
    return env.http.post(
        "/introspect", data={"token": token, **extra}, auth=auth or httpx2.USE_CLIENT_DEFAULT
    )


def active(env: Env, token: str, auth: tuple[str, str]) -> bool:
    r = introspect(env, token, auth)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    value: bool = r.json()["active"]
    return value


@pytest.fixture
def other(runtime: Runtime, db: Session) -> tuple[Client, str]:
    client, secret = create_client(runtime, db, name="Other app", redirect_uris=[REDIRECT])
    assert secret
    return client, secret


# ---------------------------------------------------------------------------- introspection


def test_introspect_own_tokens(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    tokens = tokens_for(env, client, secret, siti)
    r = introspect(
        env, tokens["access_token"], (client.client_id, secret), token_type_hint="refresh_token"
    )  # a wrong hint does not matter
    body = r.json()
    assert body["active"] is True
    assert body["client_id"] == client.client_id and body["sub"] == siti.id
    assert body["scope"] == "openid profile offline_access"
    assert body["token_type"] == "Bearer" and body["iss"] == "http://testserver"
    assert body["username"] == "siti" and body["exp"] > body["iat"]
    rt = introspect(env, tokens["refresh_token"], (client.client_id, secret)).json()
    assert rt["active"] is True and rt["token_type"] == "refresh_token"
    assert rt["sub"] == siti.id and rt["client_id"] == client.client_id


def test_foreign_and_garbage_tokens_are_inactive(
    env: Env, rp: tuple[Client, str], other: tuple[Client, str], siti: User
) -> None:
    client, secret = rp
    tokens = tokens_for(env, client, secret, siti)
    other_auth = (other[0].client_id, other[1])
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert introspect(env, token, other_auth).json() == {"active": False}
    for garbage in ("x", "a.b.c", "tsso_rt_unknown", "\u00e9" * 20, "e" * 5000):
        assert introspect(env, garbage, (client.client_id, secret)).json() == {"active": False}


def test_token_meant_for_another_client_is_visible_to_it(
    env: Env, rp: tuple[Client, str], other: tuple[Client, str], siti: User
) -> None:
    """A token whose ``aud`` names a client may be introspected by that client (an API)."""
    client, secret = rp
    tokens = tokens_for(env, client, secret, siti)
    with env.session() as s:
        claims = env.keys.verify_jwt(tokens["access_token"], session=s)
        claims["aud"] = [client.client_id, other[0].client_id]
        widened = env.keys.sign_jwt(claims, "RS256", "at+jwt", session=s)
    assert introspect(env, widened, (other[0].client_id, other[1])).json()["active"] is True


def test_expired_and_disabled_are_inactive(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    auth = (client.client_id, secret)
    tokens = tokens_for(env, client, secret, siti)
    clock = FrozenClock()
    previous = set_clock(clock)
    try:
        clock.advance(601)
        assert not active(env, tokens["access_token"], auth)
        assert active(env, tokens["refresh_token"], auth)
    finally:
        set_clock(previous)
    with env.session() as s:
        user = s.get(User, siti.id)
        assert user is not None
        user.status = "disabled"
        s.commit()
    assert not active(env, tokens["access_token"], auth)
    assert not active(env, tokens["refresh_token"], auth)


def test_introspection_needs_an_authenticated_confidential_client(
    env: Env, rp: tuple[Client, str], public_rp: Client, siti: User
) -> None:
    client, secret = rp
    tokens = tokens_for(env, client, secret, siti)
    r = env.http.post("/introspect", data={"token": tokens["access_token"]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")
    r = env.http.post(
        "/introspect", data={"token": tokens["access_token"], "client_id": public_rp.client_id}
    )
    assert r.status_code == 401
    r = env.http.post("/introspect", data={}, auth=(client.client_id, secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = env.http.post(
        "/introspect",
        content=b"token=a&token=b",
        auth=(client.client_id, secret),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_introspection_with_private_key_jwt(
    env: Env, runtime: Runtime, db: Session, siti: User
) -> None:
    key = client_key()
    client, _ = create_client(
        runtime,
        db,
        name="API",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="private_key_jwt",
        jwks=jwks_of(key),
    )
    issued = issue_code(env.runtime, client, siti)
    form = code_form(issued) | assertion_form(key, client.client_id)
    access = env.http.post("/token", data=form).json()["access_token"]
    r = env.http.post(
        "/introspect",
        data={"token": access}
        | assertion_form(key, client.client_id, aud="http://testserver/introspect"),
    )
    assert r.json()["active"] is True


# ---------------------------------------------------------------------------- revocation


def test_revoking_a_refresh_token_revokes_its_grant(
    env: Env, rp: tuple[Client, str], siti: User
) -> None:
    client, secret = rp
    auth = (client.client_id, secret)
    tokens = tokens_for(env, client, secret, siti)
    r = env.http.post(
        "/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=auth,
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert not active(env, tokens["access_token"], auth)
    assert not active(env, tokens["refresh_token"], auth)
    r = env.http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert [e.target_id for e in env.events("grant.revoked")] == [tokens["grant_id"]]


def test_revoking_an_access_token(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    auth = (client.client_id, secret)
    tokens = tokens_for(env, client, secret, siti)
    r = env.http.post("/revoke", data={"token": tokens["access_token"]}, auth=auth)
    assert r.status_code == 200
    assert not active(env, tokens["access_token"], auth)
    assert active(env, tokens["refresh_token"], auth)  # only that access token
    with env.session() as s:
        assert len(s.scalars(select(RevokedAccessToken)).all()) == 1
    assert len(env.events("token.revoked")) == 1
    # Revoking it again (or anything unknown) is fine.
    for token in (tokens["access_token"], "tsso_rt_unknown", "garbage", "a.b.c"):
        assert env.http.post("/revoke", data={"token": token}, auth=auth).status_code == 200


def test_only_the_owner_may_revoke(
    env: Env, rp: tuple[Client, str], other: tuple[Client, str], siti: User
) -> None:
    client, secret = rp
    tokens = tokens_for(env, client, secret, siti)
    other_auth = (other[0].client_id, other[1])
    for token in (tokens["access_token"], tokens["refresh_token"]):
        r = env.http.post("/revoke", data={"token": token}, auth=other_auth)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        assert active(env, token, (client.client_id, secret))
    r = env.http.post("/revoke", data={"token": tokens["access_token"]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_public_client_revokes_with_its_client_id(
    env: Env, public_rp: Client, siti: User, rp: tuple[Client, str]
) -> None:
    tokens = tokens_for(env, public_rp, None, siti)
    r = env.http.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": public_rp.client_id}
    )
    assert r.status_code == 200, r.text
    r = env.http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": public_rp.client_id,
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert r.json()["error"] == "invalid_grant"


def test_introspection_failures_are_recorded_and_lock_the_client(
    env: Env, rp: tuple[Client, str], siti: User
) -> None:
    """What a refused introspection leaves behind (its audit row, the guessing counter) is
    committed, and the lock then refuses even the right secret."""
    client, secret = rp
    tokens = tokens_for(env, client, secret, siti)
    limit = env.runtime.settings.client_secret_max_failures
    for _ in range(limit):
        r = introspect(env, tokens["access_token"], (client.client_id, secret + "x"))
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    failures = env.events("client.auth_failed")
    assert len(failures) == limit
    assert all(f.details.get("endpoint") == "introspection" for f in failures)
    r = introspect(env, tokens["access_token"], (client.client_id, secret))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_introspection_with_a_percent_encoded_assertion_name(
    env: Env, runtime: Runtime, db: Session, siti: User
) -> None:
    """The names of the form may be percent-encoded: a private_key_jwt introspection still
    records its assertion (in the transaction it needs), and the jti cannot be used twice."""
    key = client_key()
    client, _ = create_client(
        runtime,
        db,
        name="Data portal",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="private_key_jwt",
        jwks=jwks_of(key),
    )
    form = assertion_form(key, client.client_id, aud="http://testserver/introspect")
    body = (
        "&".join(  # "assertion" spelled "%61ssertion" in the names and the type
            f"{name}={value}".replace("assertion", "%61ssertion", 1 if name.endswith("n") else 2)
            for name, value in form.items()
        )
        + "&token=garbage"
    )
    headers = {"content-type": "application/x-www-form-urlencoded"}
    r = env.http.post("/introspect", content=body.encode(), headers=headers)
    assert r.status_code == 200 and r.json() == {"active": False}
    r = env.http.post("/introspect", content=body.encode(), headers=headers)
    assert r.status_code == 401
