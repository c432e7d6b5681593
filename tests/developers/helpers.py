"""Helpers of the developer-portal tests: people, the portal's forms, and a relying party's
side of a login (authorization code + PKCE, ID token checked with Authlib)."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx2
from authlib.oidc.core import CodeIDToken
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent, Client, User
from sso.runtime import Runtime
from tests.factories import create_user
from tests.oidc.flow import authorize_url, csrf_of, login, open_console_page, query_of

ISSUER = "http://testserver"
REDIRECT = "https://app.example.id/callback"
SECRET_RE = re.compile(r'id="client-secret"[^>]*>([^<]+)<')
SECRET_PAGE = "/developers/secret"
CLIENT_ID_RE = re.compile(r'id="client-id"[^>]*>([^<]+)<')


def developer(runtime: Runtime, db: Session, username: str = "dewi", **fields: Any) -> User:
    return create_user(runtime, db, username=username, **fields)


def app_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "Aplikasi Pajak Daerah",
        "description": "Cek tagihan PBB",
        "kind": "web",
        "redirect_uris": REDIRECT,
        "post_logout_redirect_uris": "",
        "scopes": ["profile", "email"],
        "logo_uri": "https://app.example.id/logo.png",
        "client_uri": "https://app.example.id/",
        "backchannel_logout_uri": "",
    }
    form.update(overrides)
    return form


def register_app(
    http: TestClient, username: str = "dewi", **overrides: Any
) -> tuple[str, str | None, Any]:
    """Register an app through the portal as ``username``: (client_id, secret, response). The
    response is the page the POST redirected to (the secret shown once), or the refused form."""
    page = open_console_page(http, "/developers/apps/new", username)
    assert page.status_code == 200, page.text
    data = app_form(**overrides)
    data["csrf_token"] = csrf_of(page.text)
    r = http.post("/developers/apps/new", data=data, follow_redirects=False)
    if r.status_code == 303:
        # A POST ends in a redirect; the secret waits on its own page (never in the URL).
        assert r.headers["location"] == SECRET_PAGE, r.headers
        r = http.get(SECRET_PAGE)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    client_id = CLIENT_ID_RE.search(r.text)
    secret = SECRET_RE.search(r.text)
    return (
        html.unescape(client_id.group(1)) if client_id else "",
        html.unescape(secret.group(1)) if secret else None,
        r,
    )


def csrf_token(http: TestClient, path: str = "/developers") -> str:
    return csrf_of(http.get(path).text)


def events(db: Session, name: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def client_row(db: Session, client_id: str) -> Client | None:
    db.expire_all()
    return db.scalar(select(Client).where(Client.client_id == client_id))


def existing_client(db: Session, client_id: str) -> Client:
    """:func:`client_row` of a client that must exist."""
    row = client_row(db, client_id)
    assert row is not None, client_id
    return row


def log_in_with(
    http: TestClient,
    client_id: str,
    secret: str | None,
    username: str = "siti",
    redirect_uri: str = REDIRECT,
) -> tuple[dict[str, Any], Any]:
    """A relying party's login: /authorize (PKCE) → login → consent → code → /token; the ID
    token is checked as Authlib's CodeIDToken does. Returns (claims, token response)."""
    req = authorize_url(client_id, redirect_uri, "openid profile email")
    location = login(http, req, username)
    params = query_of(location)
    assert "code" in params, location
    auth = (client_id, secret) if secret else None
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": req.verifier,
    }
    if secret is None:
        form["client_id"] = client_id
    r = http.post("/token", data=form, auth=auth or httpx2.USE_CLIENT_DEFAULT)
    assert r.status_code == 200, r.text
    token = r.json()
    keys = KeySet.import_key_set(http.get("/jwks.json").json())
    decoded = jwt.decode(token["id_token"], keys)
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": client_id},
        },
        params={"nonce": req.nonce, "access_token": token["access_token"]},
    )
    claims.validate()
    return dict(claims), r
