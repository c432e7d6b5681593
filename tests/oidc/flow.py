"""Drive the browser side of the authorization code flow over HTTP, as a person would."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi.testclient import TestClient

from tests.factories import PASSWORD

CSRF_RE = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
FORM_ACTION_RE = re.compile(r'<form[^>]*action="([^"]+)"')


@dataclass
class AuthRequest:
    url: str
    state: str
    nonce: str
    verifier: str


def authorize_url(
    client_id: str,
    redirect_uri: str = "https://rp.example.id/callback",
    scope: str = "openid profile email",
    *,
    pkce: bool = True,
    **extra: str,
) -> AuthRequest:
    state, nonce, verifier = generate_token(16), generate_token(16), generate_token(48)
    params = dict(extra)
    params.setdefault("nonce", nonce)
    if pkce:
        params["code_challenge"] = create_s256_code_challenge(verifier)
        params["code_challenge_method"] = "S256"
    url = prepare_grant_uri(
        "/authorize",
        client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        **params,
    )
    return AuthRequest(url, state, nonce, verifier)


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, "page has no CSRF token"
    return html.unescape(match.group(1))


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def login(
    http: TestClient,
    req: AuthRequest,
    username: str,
    password: str = PASSWORD,
    *,
    consent: str | None = "allow",
) -> str:
    """Run /authorize → login → (consent) and return the final redirect Location to the RP."""
    r = http.get(req.url, follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    if not location.startswith("/interaction/"):
        return location
    interaction = location
    page = http.get(interaction)
    if 'name="password"' in page.text:
        r = http.post(
            f"{interaction}/login",
            data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        page = http.get(interaction, follow_redirects=False)
        if page.status_code == 303:
            return page.headers["location"]
    if 'name="decision"' in page.text:
        assert consent is not None, "unexpected consent page"
        r = http.post(
            f"{interaction}/consent",
            data={"decision": consent, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return r.headers["location"]
    assert page.status_code == 303, page.text
    return page.headers["location"]


def open_console_page(
    http: TestClient, path: str, username: str, password: str = PASSWORD
) -> object:
    """GET a page of the provider's own consoles (/account, /admin, /developers), logging in
    through the console client when asked to; returns the final response of ``path``."""
    r = http.get(path, follow_redirects=False)
    if r.status_code != 303 or not r.headers["location"].startswith("/authorize"):
        return r
    authorize = r.headers["location"]
    r = http.get(authorize, follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    if location.startswith("/interaction/"):
        page = http.get(location)
        assert 'name="password"' in page.text, page.text
        r = http.post(
            f"{location}/login",
            data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        r = http.get(location, follow_redirects=False)
        assert r.status_code == 303, r.text
        location = r.headers["location"]
    assert urlsplit(location).path == "/console/callback", location
    r = http.get(location, follow_redirects=False)
    assert r.status_code == 303, r.text
    return http.get(r.headers["location"], follow_redirects=False)
