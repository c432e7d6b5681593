"""Token-side test helpers: a minimal app with the token router, codes issued the way /authorize
issues them, relying-party checks of ID tokens, and client keys for private_key_jwt."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core.util import create_half_hash
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.core.crypto import keyed_hash, random_token
from sso.db.models import AuditEvent, Client, User
from sso.oauth.assertions import ASSERTION_TYPE
from sso.oidc.keys import KeyService
from sso.storage import grants as grant_repo
from sso.web.app_runtime import AppRuntime
from sso.web.routes import token as token_routes

ISSUER = "http://testserver"
REDIRECT = "https://rp.example.id/callback"
TOKEN_URL = f"{ISSUER}/token"


@dataclass
class Env:
    runtime: AppRuntime
    http: TestClient
    keys: KeyService

    def session(self) -> Session:
        return self.runtime.sessions()

    def jwks(self) -> KeySet:
        """Our published keys, as a relying party would fetch them."""
        with self.session() as s:
            return KeySet.import_key_set(json.loads(self.keys.jwks(session=s)))

    def events(self, name: str) -> list[AuditEvent]:
        with self.session() as s:
            return list(s.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def build_app(runtime: AppRuntime) -> FastAPI:
    app = FastAPI()
    app.state.runtime = runtime
    app.include_router(token_routes.router)
    return app


def make_env(runtime: AppRuntime) -> Env:
    keys = runtime.keys
    with runtime.sessions() as s:
        keys.ensure_keys(s)
        s.commit()
    return Env(runtime, TestClient(build_app(runtime)), keys)


@dataclass
class IssuedCode:
    code: str
    verifier: str | None
    nonce: str | None
    grant_id: str
    sid: str


def issue_code(
    runtime: AppRuntime,
    client: Client,
    user: User,
    *,
    scope: str = "openid profile email",
    redirect_uri: str = REDIRECT,
    pkce: bool = True,
    method: str = "S256",
    nonce: str | None = "n-0S6_WzA2Mj",
    claims: dict[str, Any] | None = None,
    lifetime: int = 60,
) -> IssuedCode:
    """What the lead's /authorize does after consent: a Grant, then a code row for it."""
    verifier = generate_token(48) if pkce else None
    challenge = None
    if verifier is not None:
        challenge = create_s256_code_challenge(verifier) if method == "S256" else verifier
    sid = str(uuid.uuid4())
    code = random_token("code")
    with runtime.sessions() as s:
        grant = grant_repo.create_grant(
            s,
            client_id=client.client_id,
            user_id=user.id,
            scope=scope,
            login_session_id=sid,
            auth_time=now() - timedelta(seconds=5),
            amr=["pwd"],
            acr="1",
            claims=claims,
        )
        grant_repo.add_code(
            s,
            code_hash=keyed_hash(runtime.secret_key, code, "code"),
            grant=grant,
            redirect_uri=redirect_uri,
            nonce=nonce,
            code_challenge=challenge,
            code_challenge_method=method if verifier else None,
            lifetime=lifetime,
        )
        s.commit()
        grant_id = grant.id
    return IssuedCode(code, verifier, nonce, grant_id, sid)


def code_form(issued: IssuedCode, **extra: str) -> dict[str, str]:
    form = {"grant_type": "authorization_code", "code": issued.code, "redirect_uri": REDIRECT}
    if issued.verifier:
        form["code_verifier"] = issued.verifier
    form.update(extra)
    return form


def verify_id_token(
    env: Env, id_token: str, *, client_id: str, nonce: str | None, access_token: str | None
) -> dict[str, Any]:
    """Validate an ID token as a strict relying party: signature with the JWKS, iss, aud, exp,
    iat, nonce, at_hash (OIDC Core §3.1.3.7)."""
    token = jwt.decode(id_token, env.jwks(), algorithms=["RS256", "ES256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": nonce is not None, "value": nonce} if nonce else {"essential": False},
    )
    registry.validate(token.claims)
    if nonce is None:
        assert "nonce" not in token.claims
    if access_token is not None:
        expected = create_half_hash(access_token, token.header["alg"])
        assert expected is not None
        assert token.claims["at_hash"] == expected.decode()
    return dict(token.claims) | {"_header": dict(token.header)}


def client_key(kid: str = "rp-key-1") -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True
    )


def public_jwks(key: RSAKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False)]}


def assertion(
    key: RSAKey,
    client_id: str,
    *,
    aud: str | list[str] = TOKEN_URL,
    jti: str | None = None,
    lifetime: int = 120,
    alg: str = "RS256",
    **claims: Any,
) -> str:
    t = int(time.time())
    payload: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": t,
        "exp": t + lifetime,
        "jti": jti or generate_token(24),
    }
    payload.update(claims)
    return jwt.encode({"alg": alg, "kid": key.kid}, payload, key, algorithms=[alg])


def assertion_form(key: RSAKey, client_id: str, **kwargs: Any) -> dict[str, str]:
    return {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(key, client_id, **kwargs),
    }
