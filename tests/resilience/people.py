"""What people and relying parties do, over real HTTP (httpx) against live `sso serve`
processes: the browser login (authorization code + PKCE), registration, refresh, userinfo,
revocation, and ID token checks against the provider's JWKS."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

REDIRECT_URI = "https://rp.example.id/callback"
CSRF_RE = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
STACK_TRACE_MARKS = ("Traceback", 'File "', "sqlalchemy", "psycopg", "OperationalError")


@dataclass
class RP:
    client_id: str
    client_secret: str
    scope: str = "openid profile email offline_access"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, f"no CSRF token in the page: {page[:300]!r}"
    return html.unescape(match.group(1))


def no_stack_trace(response: httpx.Response) -> None:
    for mark in STACK_TRACE_MARKS:
        assert mark not in response.text, f"{mark!r} in a {response.status_code} body"


class Browser:
    """One person's browser: a cookie jar that follows them from one provider instance to
    another, as behind a load balancer without sticky sessions."""

    def __init__(self, base_url: str, timeout: float = 30) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=timeout)

    def use(self, base_url: str) -> Browser:
        self.http.base_url = httpx.URL(base_url)
        return self

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ login
    def start(self, rp: RP) -> tuple[httpx.Response, dict[str, str]]:
        """GET /authorize; the response (303 to the interaction or to the RP) and the request."""
        req = {
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
            "verifier": secrets.token_urlsafe(48),
        }
        query = urlencode(
            {
                "response_type": "code",
                "client_id": rp.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": rp.scope,
                "state": req["state"],
                "nonce": req["nonce"],
                "code_challenge": s256(req["verifier"]),
                "code_challenge_method": "S256",
            }
        )
        return self.http.get(f"/authorize?{query}"), req

    def login_page(self, rp: RP) -> tuple[str, str, dict[str, str]]:
        """Open the login page: (interaction path, CSRF token, request)."""
        r, req = self.start(rp)
        assert r.status_code == 303, r.text
        interaction = r.headers["location"]
        assert interaction.startswith("/interaction/"), interaction
        page = self.http.get(interaction)
        assert page.status_code == 200, page.text
        return interaction, csrf_of(page.text), req

    def submit_login(
        self, interaction: str, csrf: str, username: str, password: str
    ) -> httpx.Response:
        return self.http.post(
            f"{interaction}/login",
            data={"username": username, "password": password, "csrf_token": csrf},
        )

    def code_after(self, response: httpx.Response, req: dict[str, str]) -> str:
        """Follow the provider's redirects to the RP; the code."""
        for _ in range(5):
            location = response.headers.get("location", "")
            assert response.status_code in (302, 303), (response.status_code, response.text)
            if location.startswith(REDIRECT_URI):
                params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                assert params.get("state") == req["state"], params
                assert "code" in params, params
                code: str = params["code"]
                return code
            response = self.http.get(location)
        raise AssertionError("no redirect to the relying party")

    def login(self, rp: RP, username: str, password: str) -> dict[str, Any]:
        """A complete login; the token response."""
        interaction, csrf, req = self.login_page(rp)
        r = self.submit_login(interaction, csrf, username, password)
        assert r.status_code == 303, (r.status_code, r.text[:500])
        return redeem(self.http, rp, self.code_after(r, req), req)

    def silent_login(self, rp: RP) -> dict[str, Any]:
        """/authorize with the session cookie only: no login page, straight to the RP."""
        r, req = self.start(rp)
        assert r.status_code == 303 and r.headers["location"].startswith(REDIRECT_URI), (
            r.status_code,
            r.headers.get("location"),
        )
        return redeem(self.http, rp, self.code_after(r, req), req)

    # ------------------------------------------------------------------ registration
    def register(self, name: str, email: str, password: str) -> httpx.Response:
        page = self.http.get("/register")
        assert page.status_code == 200, page.text
        return self.http.post(
            "/register",
            data={
                "name": name,
                "email": email,
                "phone": "",
                "password": password,
                "password_confirm": password,
                "csrf_token": csrf_of(page.text),
            },
        )


def redeem(http: httpx.Client, rp: RP, code: str, req: dict[str, str]) -> dict[str, Any]:
    r = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": req["verifier"],
        },
        auth=(rp.client_id, rp.client_secret),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    body["nonce"] = req["nonce"]
    return body


def refresh(base_url: str, rp: RP, refresh_token: str, timeout: float = 30) -> httpx.Response:
    return httpx.post(
        base_url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(rp.client_id, rp.client_secret),
        timeout=timeout,
    )


def userinfo(base_url: str, access_token: str) -> httpx.Response:
    return httpx.get(
        base_url + "/userinfo", headers={"Authorization": f"Bearer {access_token}"}, timeout=30
    )


def introspect(base_url: str, rp: RP, token: str) -> dict[str, Any]:
    r = httpx.post(
        base_url + "/introspect",
        data={"token": token},
        auth=(rp.client_id, rp.client_secret),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def revoke(base_url: str, rp: RP, token: str) -> None:
    r = httpx.post(
        base_url + "/revoke",
        data={"token": token},
        auth=(rp.client_id, rp.client_secret),
        timeout=30,
    )
    assert r.status_code == 200, r.text


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
    import json

    kid: str = json.loads(decoded)["kid"]
    return kid


def verify_id_token(
    base_url: str, issuer: str, rp: RP, id_token: str, nonce: str | None = None
) -> dict[str, Any]:
    """Check an ID token as a relying party does: signature against the provider's JWKS,
    issuer, audience, nonce."""
    jwks = httpx.get(base_url + "/jwks.json", timeout=30).json()
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256", "ES256"])
    claims: dict[str, Any] = dict(token.claims)
    assert claims["iss"] == issuer, claims
    aud = claims["aud"]
    assert rp.client_id == aud or rp.client_id in aud, claims
    if nonce is not None:
        assert claims.get("nonce") == nonce, claims
    return claims
