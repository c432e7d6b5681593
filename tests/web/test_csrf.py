from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.testclient import TestClient

from sso.web.security import CSRF_COOKIE, CSRF_COOKIE_SECURE, is_cross_site


def form_token(client: TestClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert match
    return match.group(1)


def test_form_page_sets_an_httponly_lax_cookie(browser: TestClient) -> None:
    response = browser.get("/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # http issuer
    # The browser already has one: no new cookie, and the same token.
    again = browser.get("/login")
    assert "set-cookie" not in again.headers
    assert form_token(browser) == form_token(browser)


def test_post_without_token_is_refused(browser: TestClient) -> None:
    browser.get("/login")
    response = browser.post("/login", data={"username": "budi", "password": "x"})
    assert response.status_code == 403
    assert "Formulir kedaluwarsa atau tidak sah. Silakan coba lagi." in response.text
    assert response.headers["x-frame-options"] == "DENY"


def test_post_with_token_is_accepted(browser: TestClient) -> None:
    token = form_token(browser)
    response = browser.post(
        "/login",
        data={"username": "budi", "password": "x", "csrf_token": token},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 401
    assert "Nama pengguna atau kata sandi salah." in response.text


def test_origin_null_is_left_to_the_token(browser: TestClient) -> None:
    # Browsers send `Origin: null` on POSTs from pages with Referrer-Policy: no-referrer.
    token = form_token(browser)
    response = browser.post("/login", data={"csrf_token": token}, headers={"Origin": "null"})
    assert response.status_code == 401


def test_token_of_another_browser_is_refused(web_app: FastAPI, browser: TestClient) -> None:
    with TestClient(web_app) as other:
        stolen = form_token(other)
    browser.get("/login")
    response = browser.post("/login", data={"csrf_token": stolen})
    assert response.status_code == 403


def test_token_without_cookie_is_refused(web_app: FastAPI) -> None:
    with TestClient(web_app) as attacker:
        token = form_token(attacker)
        attacker.cookies.clear()
        assert attacker.post("/login", data={"csrf_token": token}).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://testserver.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
    ],
)
def test_cross_site_post_is_refused_even_with_a_valid_token(
    browser: TestClient, headers: dict[str, str]
) -> None:
    token = form_token(browser)
    response = browser.post("/login", data={"csrf_token": token}, headers=headers)
    assert response.status_code == 403
    assert "Formulir kedaluwarsa" in response.text


def test_json_client_gets_json_csrf_error(client: TestClient) -> None:
    response = client.post("/login", data={"csrf_token": "nope"})
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def test_https_issuer_uses_a_host_prefixed_secure_cookie(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(issuer="https://sso.example.go.id")
    with TestClient(app, base_url="https://sso.example.go.id") as client:
        response = client.get("/login")
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{CSRF_COOKIE_SECURE}=") and "Secure" in cookie
        token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
        assert token
        ok = client.post(
            "/login",
            data={"csrf_token": token.group(1)},
            headers={"Origin": "https://sso.example.go.id"},
        )
        assert ok.status_code == 401


def _request(headers: dict[str, str], app: FastAPI) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("internal", 8000),
        "path": "/login",
        "query_string": b"",
        "headers": [(b"host", b"internal:8000"), *raw],
        "app": app,
    }
    return Request(scope)


def test_is_cross_site_accepts_the_issuer_origin_behind_a_proxy(
    app_factory: Callable[..., FastAPI],
) -> None:
    app = app_factory(issuer="https://sso.example.go.id/")
    assert not is_cross_site(_request({"Origin": "https://sso.example.go.id"}, app))
    assert not is_cross_site(_request({"Origin": "https://sso.example.go.id:443"}, app))
    assert not is_cross_site(_request({"Origin": "http://internal:8000"}, app))
    assert not is_cross_site(_request({}, app))
    assert is_cross_site(_request({"Origin": "http://sso.example.go.id"}, app))
    assert is_cross_site(_request({"Origin": "not a url"}, app))
