"""Apps in development (issue 13): an admin marks a developer's app so; it may then register
``http://localhost`` / ``http://127.0.0.1`` redirect URIs even in production, and only its owner
and admins may log in to it. Also the admin's review page: owner, homepage, logo link."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.core.errors import Conflict
from sso.db.models import User
from sso.oauth import app_review, redirect_uris
from sso.runtime import Runtime
from tests.admin.conftest import Browser, agencies, browser, person
from tests.developers.helpers import (
    REDIRECT,
    app_form,
    client_row,
    events,
    register_app,
)
from tests.factories import PASSWORD
from tests.oidc.flow import authorize_url, csrf_of, login, open_console_page, query_of

LOOPBACK = "http://localhost:8000/callback"
LOOPBACK_IP = "http://127.0.0.1:5173/callback"


@pytest.fixture
def admin(app: FastAPI, runtime: Runtime, db: Session) -> Any:
    agencies(db)
    user, totp = person(runtime, db, "adminkota", role="admin", nip="198001012005011001")
    b = browser(app, user, totp)
    yield b
    b.http.close()


def edit(http: TestClient, client_id: str, uris: str) -> Any:
    page = http.get(f"/developers/apps/{client_id}/edit")
    data = app_form(redirect_uris=uris, csrf_token=csrf_of(page.text))
    return http.post(f"/developers/apps/{client_id}/edit", data=data, follow_redirects=False)


def approved_app(http: TestClient, db: Session, dewi: User) -> tuple[str, str]:
    client_id, secret, _ = register_app(http)
    client = client_row(db, client_id)
    assert client is not None and secret
    app_review.approve(db, client, dewi.id, "OK")
    db.commit()
    return client_id, secret


def code_for(
    http: TestClient, client_id: str, redirect_uri: str, username: str, totp: str | None = None
) -> dict[str, str]:
    req = authorize_url(client_id, redirect_uri, "openid profile")
    return query_of(login(http, req, username, totp_secret=totp))


def test_the_rule_itself() -> None:
    for uri in (LOOPBACK, LOOPBACK_IP, "http://[::1]:9000/cb"):
        assert redirect_uris.problem(uri, native=False, dev=False) is not None
        assert redirect_uris.problem(uri, native=False, dev=False, in_development=True) is None
    # Still https for everything else, and still no wildcard or fragment.
    for uri in ("http://app.example.id/cb", "http://localhost:8000/cb#x", "http://127.0.0.1/*"):
        assert redirect_uris.problem(uri, native=False, dev=False, in_development=True)
    assert redirect_uris.loopback_http([LOOPBACK, REDIRECT, LOOPBACK_IP]) == [LOOPBACK, LOOPBACK_IP]


def test_loopback_redirect_uris_only_with_the_mark_in_production(
    http: TestClient, admin: Browser, dewi: User, db: Session
) -> None:
    client_id, _ = approved_app(http, db, dewi)
    # Not marked: refused, in the person's language.
    r = edit(http, client_id, f"{REDIRECT}\n{LOOPBACK}")
    assert r.status_code == 400 and "localhost" in r.text
    assert client_row(db, client_id).redirect_uris == [REDIRECT]  # type: ignore[union-attr]
    assert "in-development" not in http.get(f"/developers/apps/{client_id}").text

    # An admin marks it (audited); the developer sees the state and may add loopback URIs.
    r = admin.post(
        f"/admin/clients/{client_id}/development",
        {"in_development": "1"},
        page=f"/admin/clients/{client_id}",
    )
    assert r.status_code == 303, r.text
    [event] = events(db, "client.development_changed")
    assert (event.actor_id, event.target_id) == (admin.user.id, client_id)
    assert event.details["in_development"] is True
    page = http.get(f"/developers/apps/{client_id}")
    assert 'id="in-development"' in page.text and "Dalam pengembangan" in page.text
    assert "Dalam pengembangan" in http.get("/developers").text
    r = edit(http, client_id, f"{REDIRECT}\n{LOOPBACK}\n{LOOPBACK_IP}")
    assert r.status_code == 303, r.text
    assert client_row(db, client_id).redirect_uris == [REDIRECT, LOOPBACK, LOOPBACK_IP]  # type: ignore[union-attr]

    # The mark cannot be cleared while those URIs would stay usable by anyone.
    r = admin.post(
        f"/admin/clients/{client_id}/development",
        {"in_development": "0"},
        page=f"/admin/clients/{client_id}",
    )
    assert r.status_code == 409 and LOOPBACK in r.text
    assert client_row(db, client_id).in_development  # type: ignore[union-attr]
    edit(http, client_id, REDIRECT)
    r = admin.post(
        f"/admin/clients/{client_id}/development",
        {"in_development": "0"},
        page=f"/admin/clients/{client_id}",
    )
    assert r.status_code == 303
    assert not client_row(db, client_id).in_development  # type: ignore[union-attr]
    assert [e.details["in_development"] for e in events(db, "client.development_changed")] == [
        True,
        False,
    ]


def test_clearing_the_mark_is_refused_while_loopback_uris_remain(
    runtime: Runtime, db: Session, dewi: User, http: TestClient
) -> None:
    client_id, _ = approved_app(http, db, dewi)
    client = client_row(db, client_id)
    assert client is not None
    assert app_review.set_in_development(db, runtime.settings, client, True, actor_id=dewi.id)
    assert not app_review.set_in_development(db, runtime.settings, client, True, actor_id=dewi.id)
    client.redirect_uris = [REDIRECT, LOOPBACK]
    with pytest.raises(Conflict):
        app_review.set_in_development(db, runtime.settings, client, False, actor_id=dewi.id)
    db.rollback()


def test_only_the_owner_and_admins_log_in_to_an_app_in_development(
    app: FastAPI,
    http: TestClient,
    other_http: TestClient,
    admin: Browser,
    dewi: User,
    siti: User,
    db: Session,
) -> None:
    client_id, _ = approved_app(http, db, dewi)
    admin.post(
        f"/admin/clients/{client_id}/development",
        {"in_development": "1"},
        page=f"/admin/clients/{client_id}",
    )
    assert edit(http, client_id, f"{REDIRECT}\n{LOOPBACK}").status_code == 303

    # The owner (already logged in to the portal) gets a code at the loopback URI.
    params = code_for(http, client_id, LOOPBACK, "dewi")
    assert "code" in params, params
    # An admin too.
    assert "code" in code_for(admin.http, client_id, LOOPBACK, "adminkota", admin.totp)

    # Anyone else is told the app is in development; no code, the refusal is audited.
    req = authorize_url(client_id, LOOPBACK, "openid profile")
    r = other_http.get(req.url, follow_redirects=False)
    interaction = r.headers["location"]
    page = other_http.get(interaction)
    r = other_http.post(
        f"{interaction}/login",
        data={"username": "siti", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    refused = other_http.get(interaction, follow_redirects=False)
    assert refused.status_code == 403, refused.text[:500]
    assert "masih dalam pengembangan" in refused.text and "code=" not in refused.text
    [event] = events(db, "client.login_refused")
    assert (event.actor_id, event.client_id, event.outcome) == (siti.id, client_id, "failure")

    # Already logged in (SSO): refused again, not answered at once; prompt=none gets an error.
    again = other_http.get(
        authorize_url(client_id, LOOPBACK, "openid profile").url, follow_redirects=False
    )
    assert again.status_code == 303 and again.headers["location"].startswith("/interaction/")
    assert other_http.get(again.headers["location"]).status_code == 403
    silent = other_http.get(
        authorize_url(client_id, LOOPBACK, "openid profile", prompt="none").url,
        follow_redirects=False,
    )
    assert query_of(silent.headers["location"])["error"] == "access_denied"
    assert len(events(db, "client.login_refused")) == 2

    # Once the mark is gone (and the loopback URI with it), everyone may log in again.
    edit(http, client_id, REDIRECT)
    admin.post(
        f"/admin/clients/{client_id}/development",
        {"in_development": "0"},
        page=f"/admin/clients/{client_id}",
    )
    ok = other_http.get(
        authorize_url(client_id, REDIRECT, "openid profile").url, follow_redirects=False
    )
    assert ok.status_code == 303
    assert "code" in code_for(other_http, client_id, REDIRECT, "siti")


def test_the_review_page_shows_owner_homepage_and_logo(
    runtime: Runtime, admin: Browser, db: Session, http: TestClient
) -> None:
    staff, _ = person(runtime, db, "rina", agency="DINKES", nip="199001012015012001", mfa=False)
    open_console_page(http, "/developers", "rina")
    client_id, _, _ = register_app(
        http,
        "rina",
        name="Antrean Puskesmas <b>",
        logo_uri="https://cdn.example.id/logo.png?a=1&b=2",
        client_uri="https://antrean.example.id/",
    )
    page = admin.get(f"/admin/clients/{client_id}")
    assert page.status_code == 200
    text = page.text
    owner = text[text.index('id="review-owner"') : text.index('id="review-homepage"')]
    assert "Rina" in owner and "rina@example.id" in owner and "Dinas Kesehatan" in owner
    assert "DINKES" in owner
    assert 'href="https://antrean.example.id/"' in text
    # The logo is a link (escaped), never loaded from the third party.
    assert 'href="https://cdn.example.id/logo.png?a=1&amp;b=2"' in text
    assert "<img" not in text[text.index('id="review-logo"') :]
    assert "Antrean Puskesmas &lt;b&gt;" in text
