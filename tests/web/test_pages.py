"""Pages: language, security headers, templates."""

from __future__ import annotations

import re

from starlette.testclient import TestClient


def test_default_language_is_indonesian(browser: TestClient) -> None:
    response = browser.get("/login")
    assert response.status_code == 200
    assert '<html lang="id">' in response.text
    assert "Masuk untuk melanjutkan ke Portal Data" in response.text
    assert "Nama pengguna, email, atau NIP" in response.text
    assert response.headers["content-language"] == "id"
    assert 'href="/login?lang=en"' in response.text  # the switch to English


def test_lang_query_gives_english_and_is_remembered(browser: TestClient) -> None:
    response = browser.get("/login", params={"lang": "en", "login_hint": "budi"})
    assert '<html lang="en">' in response.text
    assert "Sign in to continue to Portal Data" in response.text
    assert 'href="/login?login_hint=budi&amp;lang=id"' in response.text
    assert "lang=en" in response.headers["set-cookie"]
    # The cookie keeps English on the next page of the flow.
    assert '<html lang="en">' in browser.get("/consent").text


def test_accept_language_english(browser: TestClient) -> None:
    response = browser.get("/login", headers={"Accept-Language": "en-US,en;q=0.9,id;q=0.5"})
    assert '<html lang="en">' in response.text
    assert "Password" in response.text


def test_accept_language_indonesian_wins_over_english(browser: TestClient) -> None:
    response = browser.get("/login", headers={"Accept-Language": "id-ID,en;q=0.8"})
    assert '<html lang="id">' in response.text


def test_security_headers_on_pages(browser: TestClient) -> None:
    response = browser.get("/login")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert "base-uri 'none'" in csp and "object-src 'none'" in csp
    assert "form-action 'self' https: http:" in csp
    assert re.search(r"script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}'", csp)
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


def test_nonce_is_fresh_per_response(browser: TestClient) -> None:
    first = browser.get("/login").headers["content-security-policy"]
    second = browser.get("/login").headers["content-security-policy"]
    assert first != second


def test_login_form_fields(browser: TestClient) -> None:
    html = browser.get("/login", params={"login_hint": "budi@example.go.id"}).text
    assert 'name="username"' in html and 'autocomplete="username"' in html
    assert 'value="budi@example.go.id"' in html
    assert 'name="password" type="password" autocomplete="current-password"' in html
    assert re.search(r'<input type="hidden" name="csrf_token" value="[0-9a-f]{64}">', html)
    assert 'name="viewport"' in html
    assert re.search(r'<link rel="stylesheet" href="/static/style.css\?v=[0-9a-f]+">', html)


def test_stylesheet_is_served(client: TestClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert "--green-700" in response.text
    assert "http" not in response.text  # no external fonts or CDNs


def test_consent_page_translates_scopes(browser: TestClient) -> None:
    html = browser.get("/consent").text
    assert "Portal Data meminta izin untuk:" in html
    assert "Melihat profil dasar Anda" in html
    assert "custom:thing" in html  # unknown scope: its name
    assert 'name="decision" value="allow"' in html and 'name="decision" value="deny"' in html


def test_logout_confirmation_carries_hidden_fields(browser: TestClient) -> None:
    html = browser.get("/logout", params={"lang": "en"}).text
    assert "Do you want to sign out of Tangsel SSO?" in html
    assert '<input type="hidden" name="state" value="st-1">' in html
    assert 'name="post_logout_redirect_uri" value="https://rp.example/bye"' in html
    assert 'name="confirm" value="yes"' in html and 'name="confirm" value="no"' in html


def test_logged_out_page_links_back(browser: TestClient) -> None:
    html = browser.get("/logged-out").text
    assert "Anda telah keluar" in html
    assert 'href="https://rp.example/bye"' in html


def test_form_post_works_with_and_without_javascript(browser: TestClient) -> None:
    response = browser.get("/form-post")
    html = response.text
    nonce = re.search(r"'nonce-([^']+)'", response.headers["content-security-policy"])
    assert nonce
    assert f'<script nonce="{nonce.group(1)}">' in html
    assert '<form id="form-post" method="post" action="https://rp.example/cb">' in html
    assert '<input type="hidden" name="state" value="s&lt;1&gt;">' in html  # escaped
    assert re.search(r"<noscript>.*<button type=\"submit\"", html, re.S)
    assert "lang-switch" not in html
    assert "https:" in response.headers["content-security-policy"].split("form-action")[1]
