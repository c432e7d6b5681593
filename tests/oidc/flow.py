"""Drive the browser side of the authorization code flow over HTTP, as a person would."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, overload
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi.testclient import TestClient

from sso.core.clock import now
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
    redirect_uri: str | None = "https://rp.example.id/callback",
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


_last_totp_step: dict[str, int] = {}


def totp_code(secret: str) -> str:
    """A TOTP code the provider accepts now: the current step's, or the next one's when this
    secret already answered in this step (a code cannot be replayed within its step)."""
    import pyotp

    step = int(now().timestamp()) // 30
    wanted = max(step, _last_totp_step.get(secret, -1) + 1)
    if wanted > step + 1:  # two answers in one step already: wait for the next step
        import time

        time.sleep(30 - now().timestamp() % 30 + 0.05)
        step = int(now().timestamp()) // 30
        wanted = max(step, _last_totp_step.get(secret, -1) + 1)
    _last_totp_step[secret] = wanted
    return str(pyotp.TOTP(secret).at(wanted * 30))


def answer_mfa(
    http: TestClient, interaction: str, page: httpx2.Response, totp_secret: str | None
) -> httpx2.Response:
    """When ``page`` is the MFA step of ``interaction``, answer it with a TOTP code; returns the
    interaction's next response (unchanged ``page`` otherwise)."""
    text = page.text
    if f'action="{interaction}/mfa"' not in text:
        return page
    assert totp_secret is not None, "the MFA step appeared but no totp_secret was given"
    r = http.post(
        f"{interaction}/mfa",
        data={"method": "totp", "code": totp_code(totp_secret), "csrf_token": csrf_of(text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return http.get(interaction, follow_redirects=False)


def login(
    http: TestClient,
    req: AuthRequest,
    username: str,
    password: str = PASSWORD,
    *,
    consent: str | None = "allow",
    totp_secret: str | None = None,
) -> str:
    """Run /authorize → login → (second factor) → (consent) and return the final redirect
    Location to the RP. ``totp_secret`` answers the MFA step when it appears."""
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
    page = answer_mfa(http, interaction, page, totp_secret)
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


@overload
def open_console_page(
    http: TestClient,
    path: str,
    username: str,
    password: str = PASSWORD,
    totp_secret: str | None = None,
    _rounds: int = 2,
) -> httpx2.Response: ...


@overload
def open_console_page(
    http: httpx.Client,
    path: str,
    username: str,
    password: str = PASSWORD,
    totp_secret: str | None = None,
    _rounds: int = 2,
) -> httpx.Response: ...


def open_console_page(
    http: Any,  # a TestClient, or an httpx.Client on a live server: the same interface
    path: str,
    username: str,
    password: str = PASSWORD,
    totp_secret: str | None = None,
    _rounds: int = 2,
) -> Any:
    """GET a page of the provider's own consoles (/account, /admin, /developers), logging in
    through the console client when asked to (answering the MFA step with ``totp_secret`` when
    it appears); returns the final response of ``path``."""
    r = http.get(path, follow_redirects=False)
    if r.status_code != 303 or not r.headers["location"].startswith("/authorize"):
        return r
    authorize = r.headers["location"]
    r = http.get(authorize, follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    if location.startswith("/interaction/"):
        interaction = location
        page = http.get(interaction)
        if 'name="password"' in page.text:
            r = http.post(
                f"{interaction}/login",
                data={
                    "username": username,
                    "password": password,
                    "csrf_token": csrf_of(page.text),
                },
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            page = http.get(interaction, follow_redirects=False)
        r = answer_mfa(http, interaction, page, totp_secret)
        assert r.status_code == 303, r.text
        location = r.headers["location"]
    assert urlsplit(location).path == "/console/callback", location
    r = http.get(location, follow_redirects=False)
    assert r.status_code == 303, r.text
    final = http.get(r.headers["location"], follow_redirects=False)
    if (
        _rounds > 1
        and final.status_code == 303
        and final.headers["location"].startswith("/authorize")
    ):
        # A step-up: the admin pages check who it is first (any login), then ask an admin
        # for the second factor.
        return open_console_page(http, path, username, password, totp_secret, _rounds - 1)
    return final
