"""Security headers on every kind of response, and cookies that cannot be planted or leaked.

Pages, JSON, redirects, 404s, 405s, static files, oversized bodies and /metrics all get
``nosniff``, framing refused (``X-Frame-Options`` and CSP ``frame-ancestors``) and
``Referrer-Policy``; HTML gets a CSP that runs no inline script; HSTS only over https. Over
https every cookie of ours is ``__Host-`` prefixed, ``Secure``, ``Path=/``, without ``Domain``,
and an unprefixed copy planted by a sibling subdomain is ignored.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import httpx2
import pytest
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.runtime import Runtime
from sso.web import console
from tests.factories import create_client, create_user
from tests.oidc.flow import authorize_url, csrf_of, login, open_console_page, query_of

REDIRECT = "https://rp.example.id/callback"


def _requests(http: TestClient, client_id: str) -> list[tuple[str, httpx2.Response]]:
    """One response of every kind the provider sends."""
    big = "x" * (2 * 1024 * 1024)
    return [
        ("home page", http.get("/")),
        ("login redirect", http.get(authorize_url(client_id).url, follow_redirects=False)),
        ("authorize error page", http.get("/authorize?client_id=nobody")),
        ("404 page", http.get("/no/such/page")),
        ("404 json", http.get("/no/such/page", headers={"Accept": "application/json"})),
        ("405", http.put("/token")),
        ("token error json", http.post("/token", data={"grant_type": "password"})),
        ("userinfo 401", http.get("/userinfo")),
        ("discovery", http.get("/.well-known/openid-configuration")),
        ("jwks", http.get("/jwks.json")),
        ("openapi", http.get("/openapi.json")),
        ("static file", http.get("/static/style.css")),
        ("413", http.post("/token", content=big, headers={"Content-Type": FORM})),
        ("health", http.get("/healthz")),
        ("metrics", http.get("/metrics")),
        ("device page", http.get("/device")),
        ("register page", http.get("/register")),
    ]


FORM = "application/x-www-form-urlencoded"


def _assert_baseline(name: str, response: httpx2.Response) -> None:
    h = response.headers
    assert h.get("x-content-type-options") == "nosniff", name
    assert h.get("x-frame-options") == "DENY", name
    assert h.get("referrer-policy") == "no-referrer", name
    csp = h.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, name
    if h.get("content-type", "").startswith("text/html"):
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, name
        assert "default-src 'self'" in csp and "object-src 'none'" in csp, name
    else:
        assert "default-src 'none'" in csp, name


def test_every_kind_of_response_has_the_headers_over_http(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    client, _ = create_client(runtime, db, redirect_uris=[REDIRECT])
    seen = _requests(http, client.client_id)
    statuses = {name: r.status_code for name, r in seen}
    assert statuses["login redirect"] == 303 and statuses["404 page"] == 404
    assert statuses["405"] == 405 and statuses["413"] == 413 and statuses["static file"] == 200
    for name, response in seen:
        _assert_baseline(name, response)
        # HSTS over http would be ignored, and is wrong for a dev deployment: never sent.
        assert "strict-transport-security" not in response.headers, name


def test_every_kind_of_response_has_the_headers_and_hsts_over_https(
    https: TestClient, https_runtime: Runtime
) -> None:
    with https_runtime.sessions() as session:
        client, _ = create_client(https_runtime, session, redirect_uris=[REDIRECT])
    for name, response in _requests(https, client.client_id):
        _assert_baseline(name, response)
        hsts = response.headers.get("strict-transport-security", "")
        assert hsts.startswith("max-age=31536000"), name


def test_no_html_page_carries_inline_script_without_the_nonce(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    """CSP allows script only from our origin or with this response's nonce: every inline
    ``<script>`` of our pages carries it (so the CSP is not weakened to make pages work)."""
    client, _ = create_client(runtime, db, redirect_uris=[REDIRECT])
    create_user(runtime, db, username="siti")
    pages = [http.get("/"), http.get("/register"), http.get("/password/forgot")]
    r = http.get(authorize_url(client.client_id).url, follow_redirects=False)
    pages.append(http.get(r.headers["location"]))  # the login page
    for page in pages:
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        nonce = csp.split("'nonce-")[1].split("'")[0]
        for chunk in page.text.split("<script")[1:]:
            tag = chunk.split(">", 1)[0]
            assert "src=" in tag or f'nonce="{nonce}"' in tag, tag
        assert " onclick=" not in page.text and "javascript:" not in page.text


# ---------------------------------------------------------------------------- cookies


def _add_login_page(app: Any) -> None:
    """A provider page that needs a logged-in person (through the console client)."""
    router = APIRouter()

    @router.get("/_test/me")
    def me(request: Request) -> Response:
        with request.app.state.runtime.sessions() as session:
            who = console.require_login(request, session)
            return PlainTextResponse(f"hello {who.user.username}")

    app.include_router(router)


def _set_cookies(response: httpx2.Response) -> dict[str, str]:
    """name -> the raw Set-Cookie header of each cookie set by ``response``."""
    found: dict[str, str] = {}
    for raw in response.headers.get_list("set-cookie"):
        name = raw.split("=", 1)[0].strip()
        found[name] = raw
    return found


def _assert_host_cookie(raw: str) -> None:
    parsed = SimpleCookie()
    parsed.load(raw)
    (morsel,) = parsed.values()
    assert morsel.key.startswith("__Host-"), raw
    assert morsel["secure"], raw
    assert morsel["path"] == "/", raw
    assert not morsel["domain"], raw
    assert morsel["httponly"], raw
    assert morsel["samesite"].lower() == "lax", raw


def test_over_https_every_cookie_is_host_prefixed_and_secure(
    https: TestClient, https_runtime: Runtime
) -> None:
    _add_login_page(https.app)
    with https_runtime.sessions() as session:
        client, _ = create_client(https_runtime, session, redirect_uris=[REDIRECT])
        create_user(https_runtime, session, username="siti")
    collected: dict[str, str] = {}

    req = authorize_url(client.client_id)
    r = https.get(req.url, follow_redirects=False)  # browser-binding cookie
    collected.update(_set_cookies(r))
    interaction = r.headers["location"]
    page = https.get(interaction + "?lang=en")  # CSRF cookie and the language cookie
    collected.update(_set_cookies(page))
    r = https.post(
        f"{interaction}/login",
        data={
            "username": "siti",
            "password": "correct horse battery staple",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    collected.update(_set_cookies(r))  # the login session cookie
    assert r.status_code == 303, r.text
    location = login(https, req, "siti")
    assert query_of(location)["code"]
    # The provider's own pages log in through the console client (its state cookie).
    fresh = TestClient(https.app, base_url="https://testserver")
    r = fresh.get("/_test/me", follow_redirects=False)
    assert r.status_code == 303
    collected.update(_set_cookies(r))

    names = set(collected)
    for base in ("sso_browser", "sso_csrf", "lang", "sso_session", "sso_console"):
        assert f"__Host-{base}" in names, (base, names)
    for raw in collected.values():
        _assert_host_cookie(raw)

    # The session cookie is read under its prefixed name: single sign-on works over https...
    again = authorize_url(client.client_id)
    r = https.get(again.url, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(REDIRECT)
    # ...and the same value planted without the prefix (a sibling subdomain can set
    # ``sso_session`` for the parent domain, never ``__Host-``) logs nobody in.
    value = https.cookies.get("__Host-sso_session")
    assert value
    planted = TestClient(https.app, base_url="https://testserver")
    planted.cookies.set("sso_session", value)
    r = planted.get(authorize_url(client.client_id).url, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/interaction/")


def test_console_round_trip_over_https(https: TestClient, https_runtime: Runtime) -> None:
    """The console's state cookie (now ``__Host-``, Path=/) still brings the person back."""
    _add_login_page(https.app)
    with https_runtime.sessions() as session:
        create_user(https_runtime, session, username="budi")
    final = open_console_page(https, "/_test/me", "budi")
    assert final.status_code == 200
    assert final.text == "hello budi"
    cleared = [c for c in https.cookies.jar if c.name == "__Host-sso_console"]
    assert cleared == []  # deleted after use


@pytest.mark.parametrize("path", ["/", "/register"])
def test_over_http_cookie_names_are_unprefixed(http: TestClient, path: str) -> None:
    r = http.get(path)
    for raw in r.headers.get_list("set-cookie"):
        assert not raw.startswith("__Host-") and "Secure" not in raw
