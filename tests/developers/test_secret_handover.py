"""A developer's secret is shown once on a page of its own (issue 13): the POST that makes it
(a new app, a rotated secret) ends in a 303; the page is never cached, survives a reload and a
language switch, is for its owner only, and is gone after "I have copied it". The secret is
never in a URL or a log line, and it works at /token."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.db.models import User
from sso.oauth import app_review
from tests.developers.helpers import (
    CLIENT_ID_RE,
    SECRET_PAGE,
    SECRET_RE,
    app_form,
    client_row,
    csrf_token,
    log_in_with,
)
from tests.oidc.flow import csrf_of, open_console_page


def _secret_of(page: str) -> str | None:
    found = SECRET_RE.search(page)
    return found.group(1) if found else None


def test_a_new_apps_secret_survives_a_reload_and_english_then_is_gone(
    http: TestClient,
    other_http: TestClient,
    dewi: User,
    siti: User,
    db: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    form_page = open_console_page(http, "/developers/apps/new", "dewi")
    data = app_form(name="Antrean Samsat") | {"csrf_token": csrf_of(form_page.text)}
    with caplog.at_level(logging.DEBUG):
        r = http.post("/developers/apps/new", data=data, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == SECRET_PAGE
        shown = http.get(SECRET_PAGE)
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    secret = _secret_of(shown.text)
    client_id = CLIENT_ID_RE.search(shown.text).group(1)  # type: ignore[union-attr]
    assert secret and secret.startswith("tsso_cs_") and "Aplikasi terdaftar" in shown.text
    assert "Saya sudah menyalinnya" in shown.text
    assert secret not in r.headers["location"] and secret not in r.text
    assert not [rec for rec in caplog.records if secret in rec.getMessage()]

    assert _secret_of(http.get(SECRET_PAGE).text) == secret  # a reload keeps it
    english = http.get(SECRET_PAGE + "?lang=en")
    assert _secret_of(english.text) == secret
    assert "I have copied it" in english.text and "App registered" in english.text

    # Another developer's browser sees nothing, even with the same page.
    open_console_page(other_http, "/developers", "siti")
    assert _secret_of(other_http.get(SECRET_PAGE).text) is None

    r = http.post(SECRET_PAGE, data={"csrf_token": csrf_of(english.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/developers/apps/{client_id}"
    gone = http.get(SECRET_PAGE)
    assert gone.status_code == 200 and 'id="secret-gone"' in gone.text
    assert secret not in gone.text

    # The secret shown is the app's real one.
    client = client_row(db, client_id)
    assert client is not None
    app_review.approve(db, client, dewi.id)
    db.commit()
    log_in_with(other_http, client_id, secret, "siti")


def test_a_rotated_secret_goes_through_the_same_page(
    http: TestClient, other_http: TestClient, dewi: User, siti: User, db: Session
) -> None:
    page = open_console_page(http, "/developers/apps/new", "dewi")
    data = app_form() | {"csrf_token": csrf_of(page.text)}
    http.post("/developers/apps/new", data=data)
    client_id = CLIENT_ID_RE.search(http.get(SECRET_PAGE).text).group(1)  # type: ignore[union-attr]
    first = _secret_of(http.get(SECRET_PAGE).text)
    http.post(SECRET_PAGE, data={"csrf_token": csrf_token(http)})
    client = client_row(db, client_id)
    assert client is not None and first
    app_review.approve(db, client, dewi.id)
    db.commit()

    r = http.post(
        f"/developers/apps/{client_id}/secret",
        data={"csrf_token": csrf_token(http, f"/developers/apps/{client_id}")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == SECRET_PAGE
    shown = http.get(SECRET_PAGE + "?lang=en")
    rotated = _secret_of(shown.text)
    assert rotated and rotated != first and "New secret created" in shown.text
    assert _secret_of(http.get(SECRET_PAGE).text) == rotated

    # The old secret is refused at /token, the new one signs a person in.
    refused = other_http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(client_id, first)
    )
    assert refused.status_code == 401
    log_in_with(other_http, client_id, rotated, "siti")

    http.post(SECRET_PAGE, data={"csrf_token": csrf_token(http)})
    assert _secret_of(http.get(SECRET_PAGE).text) is None


def test_a_public_app_has_no_secret_to_hand_over(http: TestClient, dewi: User) -> None:
    page = open_console_page(http, "/developers/apps/new", "dewi")
    data = app_form(kind="spa", name="Peta Banjir") | {"csrf_token": csrf_of(page.text)}
    r = http.post("/developers/apps/new", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == SECRET_PAGE
    shown = http.get(SECRET_PAGE)
    assert CLIENT_ID_RE.search(shown.text) and _secret_of(shown.text) is None
    assert "PKCE" in shown.text


def test_the_secret_page_needs_a_login(http: TestClient) -> None:
    r = http.get(SECRET_PAGE, follow_redirects=False)
    assert r.status_code in (302, 303) and "secret" not in r.headers["location"].split("?")[0][1:]
