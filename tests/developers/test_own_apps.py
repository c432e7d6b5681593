"""Developers edit, rotate the secret of, and delete their own apps only: every change is
checked on the server (tested with direct POSTs from another developer's browser)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import Grant, LoginSession, User
from sso.oauth import app_review, developer_apps
from sso.runtime import Runtime
from tests.developers.conftest import developer
from tests.developers.helpers import (
    REDIRECT,
    SECRET_RE,
    app_form,
    client_row,
    csrf_token,
    events,
    log_in_with,
    register_app,
)
from tests.oidc.flow import csrf_of, open_console_page

HTML = {"Accept": "text/html"}


@pytest.fixture
def eko(runtime: Runtime, db: Session) -> User:
    return developer(runtime, db, "eko")


def test_another_developer_can_neither_see_nor_change_an_app(
    http: TestClient, other_http: TestClient, dewi: User, eko: User, db: Session
) -> None:
    client_id, secret, _ = register_app(http)
    before = client_row(db, client_id)
    assert before is not None
    original = (before.name, before.redirect_uris, before.client_secret_hash, before.version)

    page = open_console_page(other_http, "/developers", "eko")
    assert page.status_code == 200 and client_id not in page.text  # not in Eko's list
    token = csrf_of(other_http.get("/developers/apps/new").text)  # Eko's own, valid CSRF token
    for path in ("", "/edit", "/delete"):
        r = other_http.get(f"/developers/apps/{client_id}{path}", headers=HTML)
        assert r.status_code == 404, path
        assert "tidak ditemukan" in r.text and secret not in r.text
    posts = {
        "/edit": app_form(
            name="Dibajak",
            redirect_uris="https://evil.example/cb",
            version=str(before.version),
            csrf_token=token,
        ),
        "/secret": {"csrf_token": token},
        "/delete": {"csrf_token": token},
    }
    for path, data in posts.items():
        r = other_http.post(
            f"/developers/apps/{client_id}{path}", data=data, headers=HTML, follow_redirects=False
        )
        assert r.status_code == 404, (path, r.text)
        assert "tsso_cs_" not in r.text
    after = client_row(db, client_id)
    assert after is not None
    assert (after.name, after.redirect_uris, after.client_secret_hash, after.version) == original
    assert not events(db, "client.updated") and not events(db, "client.deleted")
    assert not events(db, "client.secret_rotated")

    # The services refuse just the same (the admin routes and others call them).
    with pytest.raises(developer_apps.NotFound):
        developer_apps.rotate_secret(db, http.app.state.runtime.settings, client_id, eko)  # type: ignore[attr-defined]
    with pytest.raises(developer_apps.NotFound):
        developer_apps.delete_app(db, client_id, eko)
    db.rollback()


def test_an_app_made_by_an_admin_is_nobodys_to_change(
    http: TestClient, dewi: User, runtime: Runtime, db: Session
) -> None:
    from tests.factories import create_client

    client, _ = create_client(runtime, db, name="Portal Satu Data")
    open_console_page(http, "/developers", "dewi")
    token = csrf_token(http, "/developers/apps/new")
    r = http.post(f"/developers/apps/{client.client_id}/delete", data={"csrf_token": token})
    assert r.status_code == 404
    assert client_row(db, client.client_id) is not None


def test_editing_an_app(http: TestClient, dewi: User, db: Session) -> None:
    client_id, _, _ = register_app(http)
    page = http.get(f"/developers/apps/{client_id}/edit")
    assert page.status_code == 200 and "Aplikasi Pajak Daerah" in page.text
    version = client_row(db, client_id).version  # type: ignore[union-attr]
    data = app_form(
        name="Pajak Daerah Online",
        redirect_uris=f"{REDIRECT}\nhttps://app.example.id/cb2",
        scopes=["profile", "email", "phone"],
        kind="m2m",  # the kind cannot change
        version=str(version),
        csrf_token=csrf_of(page.text),
    )
    r = http.post(f"/developers/apps/{client_id}/edit", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/developers/apps/{client_id}?saved=1"
    client = client_row(db, client_id)
    assert client is not None
    assert client.name == "Pajak Daerah Online" and client.app_kind == "web"
    assert client.redirect_uris == [REDIRECT, "https://app.example.id/cb2"]
    assert client.scope == "openid profile email phone" and client.status == "pending"
    [updated] = events(db, "client.updated")
    assert updated.actor_id == dewi.id and updated.details["by"] == "developer"
    assert "Perubahan disimpan" in http.get(r.headers["location"]).text

    # A form opened before that change is stale: a conflict, not a silent overwrite.
    r = http.post(f"/developers/apps/{client_id}/edit", data={**data, "name": "Lama"}, headers=HTML)
    assert r.status_code == 409 and "diubah di tempat lain" in r.text
    assert client_row(db, client_id).name == "Pajak Daerah Online"  # type: ignore[union-attr]

    # Invalid changes are refused with the form shown again, nothing saved.
    page = http.get(f"/developers/apps/{client_id}/edit")
    bad = {
        **data,
        "redirect_uris": "https://app.example.id/*",
        "csrf_token": csrf_of(page.text),
        "version": str(client_row(db, client_id).version),
    }  # type: ignore[union-attr]
    r = http.post(f"/developers/apps/{client_id}/edit", data=bad)
    assert r.status_code == 400 and "wildcard" in r.text
    assert client_row(db, client_id).redirect_uris[1] == "https://app.example.id/cb2"  # type: ignore[index,union-attr]


def _age_logins(db: Session, minutes: int) -> None:
    db.execute(update(LoginSession).values(auth_time=now() - timedelta(minutes=minutes)))
    db.expire_all()


def test_rotating_the_secret_needs_a_recent_login_and_kills_the_old_one(
    http: TestClient, other_http: TestClient, dewi: User, siti: User, db: Session
) -> None:
    client_id, old_secret, _ = register_app(http)
    client = client_row(db, client_id)
    assert client is not None and old_secret
    app_review.approve(db, client, dewi.id)
    db.commit()
    log_in_with(other_http, client_id, old_secret, "siti")

    page = http.get(f"/developers/apps/{client_id}")
    token = csrf_of(page.text)
    _age_logins(db, 10)  # Dewi logged in 10 minutes ago
    r = http.post(
        f"/developers/apps/{client_id}/secret", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/authorize?")
    assert "max_age=300" in r.headers["location"]
    assert not events(db, "client.secret_rotated")

    _age_logins(db, 0)  # she logged in again
    r = http.post(
        f"/developers/apps/{client_id}/secret", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/developers/secret"
    r = http.get("/developers/secret")
    assert r.status_code == 200
    new_secret = SECRET_RE.search(r.text).group(1)  # type: ignore[union-attr]
    assert new_secret != old_secret and "hanya ditampilkan sekali" in r.text
    [rotated] = events(db, "client.secret_rotated")
    assert rotated.actor_id == dewi.id and rotated.client_id == client_id

    # The old secret is refused at /token, the new one works.
    refused = other_http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(client_id, old_secret),
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    claims, _ = log_in_with(other_http, client_id, new_secret, "siti")
    assert claims["sub"] == siti.id


def test_deleting_an_app_revokes_what_it_was_given(
    http: TestClient, other_http: TestClient, dewi: User, siti: User, db: Session
) -> None:
    client_id, secret, _ = register_app(http)
    app_review.approve(db, client_row(db, client_id), dewi.id)  # type: ignore[arg-type]
    db.commit()
    _, tokens = log_in_with(other_http, client_id, secret, "siti")
    page = http.get(f"/developers/apps/{client_id}/delete")
    assert page.status_code == 200 and "tidak dapat dibatalkan" in page.text
    r = http.post(
        f"/developers/apps/{client_id}/delete",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/developers?deleted=1"
    assert client_row(db, client_id) is None
    db.expire_all()
    grants = db.scalars(select(Grant).where(Grant.client_id == client_id)).all()
    assert grants and all(g.revoked_at is not None for g in grants)
    [deleted] = events(db, "client.deleted")
    assert deleted.actor_id == dewi.id and deleted.details["grants_revoked"] == 1
    r = other_http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens.json().get("refresh_token", "x"),
        },
        auth=(client_id, secret),
    )
    assert r.status_code == 401
    assert "Aplikasi telah dihapus" in http.get("/developers?deleted=1").text
