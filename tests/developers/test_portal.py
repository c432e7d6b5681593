"""The developer portal over HTTP: who may use it, registering each kind of app, the secret
shown once, pending apps that log nobody in until an admin approves them, and a login through
an approved app with its real client_id and secret."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.db.models import Client, User
from sso.oauth import app_review
from tests.developers.helpers import (
    ISSUER,
    REDIRECT,
    app_form,
    client_row,
    csrf_token,
    events,
    log_in_with,
    register_app,
)
from tests.factories import create_user
from tests.oidc.flow import authorize_url, csrf_of, open_console_page


def count_clients(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(Client)) or 0)


def approve(db: Session, client_id: str, admin: User) -> None:
    client = client_row(db, client_id)
    assert client is not None
    app_review.approve(db, client, admin.id, "Checked with Diskominfo")
    db.commit()


def test_the_portal_needs_a_login(http: TestClient) -> None:
    r = http.get("/developers", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/authorize?")
    assert "client_id=tangselconsole" in r.headers["location"]


def test_an_unverified_account_is_refused(http: TestClient, runtime, db: Session) -> None:
    # Unverified citizens cannot log in at all; an address can become unverified while logged
    # in (an email change waiting for confirmation): the portal checks on every request.
    budi = create_user(runtime, db, username="budi")
    form_page = open_console_page(http, "/developers/apps/new", "budi")
    assert form_page.status_code == 200
    token = csrf_of(form_page.text)
    budi.email_verified = False
    db.flush()
    r = http.get("/developers")
    assert r.status_code == 403
    assert "Verifikasi email Anda" in r.text
    assert http.get("/developers/apps/new").status_code == 403
    # A POST straight to the form's target is refused on the server as well.
    r = http.post("/developers/apps/new", data=app_form(csrf_token=token), follow_redirects=False)
    assert r.status_code == 403
    assert "Verifikasi email Anda" in r.text
    assert count_clients(db) == 1  # the console's own client only
    r = http.get("/developers?lang=en")
    assert r.status_code == 403 and "Verify your email first" in r.text


def test_staff_may_register_apps(http: TestClient, runtime, db: Session) -> None:
    staff = create_user(runtime, db, username="andi.staff", kind="staff", nip="198503122010011001")
    staff.email_verified = False  # staff are vetted by their agency
    db.flush()
    client_id, secret, r = register_app(http, "andi.staff")
    assert r.status_code == 200 and client_id and secret


def test_a_web_app_is_registered_pending_and_its_secret_shown_once(
    http: TestClient, dewi: User, db: Session
) -> None:
    client_id, secret, r = register_app(http)
    assert r.status_code == 200, r.text
    assert secret and secret.startswith("tsso_cs_")
    assert "hanya ditampilkan sekali" in r.text
    client = client_row(db, client_id)
    assert client is not None
    assert (client.status, client.owner_id, client.app_kind) == ("pending", dewi.id, "web")
    assert client.client_type == "confidential"
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.scope == "openid profile email"
    assert client.redirect_uris == [REDIRECT]
    assert client.logo_uri == "https://app.example.id/logo.png"
    assert client.client_secret_hash and secret not in client.client_secret_hash
    [created] = events(db, "client.created")
    assert created.actor_id == dewi.id and created.client_id == client_id

    # The app's own page: client_id, discovery URL, examples with real values, never the secret.
    page = http.get(f"/developers/apps/{client_id}")
    assert page.status_code == 200
    assert secret not in page.text
    assert client_id in page.text
    assert f"{ISSUER}/.well-known/openid-configuration" in page.text
    assert "Menunggu persetujuan" in page.text
    assert 'id="example-python"' in page.text and "OAuth2Client" in page.text
    assert f"CLIENT_ID = &#34;{client_id}&#34;" in page.text
    # A web app: Python, both PHP ones (Laravel in four files), Node and curl's code flow.
    for key in ("laravel-1", "laravel-4", "league", "node", "curl"):
        assert f'id="example-{key}"' in page.text, key
    assert 'id="example-browser"' not in page.text and "client_credentials" not in page.text
    listing = http.get("/developers")
    assert "Aplikasi Pajak Daerah" in listing.text and client_id in listing.text


def test_pending_and_rejected_apps_log_nobody_in(
    http: TestClient, dewi: User, siti: User, db: Session, runtime
) -> None:
    client_id, secret, _ = register_app(http)
    m2m_id, m2m_secret, _ = register_app(
        http, kind="m2m", name="Sinkron Data", redirect_uris="", scopes=[]
    )
    assert secret and m2m_secret

    def refused() -> None:
        r = http.get(authorize_url(client_id, REDIRECT).url, follow_redirects=False)
        assert r.status_code == 400 and "tidak dikenal." in r.text
        r = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=(m2m_id, m2m_secret)
        )
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"

    refused()
    for cid in (client_id, m2m_id):
        client = client_row(db, cid)
        assert client is not None
        app_review.reject(db, client, dewi.id, "Tidak ada dasar hukum")
        db.commit()
    refused()
    assert [e.client_id for e in events(db, "client.rejected")] == [client_id, m2m_id]
    page = http.get(f"/developers/apps/{client_id}")
    assert "Ditolak" in page.text and "Tidak ada dasar hukum" in page.text

    # An admin may still approve a rejected app; then both work.
    approve(db, client_id, dewi)
    approve(db, m2m_id, dewi)
    r = http.post("/token", data={"grant_type": "client_credentials"}, auth=(m2m_id, m2m_secret))
    assert r.status_code == 200, r.text


def test_an_approved_app_logs_a_user_in_with_its_real_credentials(
    http: TestClient, other_http: TestClient, dewi: User, siti: User, db: Session
) -> None:
    client_id, secret, _ = register_app(http)
    approve(db, client_id, dewi)
    [approved] = events(db, "client.approved")
    assert approved.actor_id == dewi.id and approved.details["previous_status"] == "pending"
    client = client_row(db, client_id)
    assert client is not None and client.reviewed_by_id == dewi.id
    assert client.review_note == "Checked with Diskominfo" and client.reviewed_at is not None

    # Siti, in her own browser, logs in to the developer's app.
    claims, r = log_in_with(other_http, client_id, secret, "siti")
    assert claims["sub"] == siti.id
    info = other_http.get(
        "/userinfo", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert info.status_code == 200 and info.json()["email"] == "siti@example.id"


def test_single_page_and_native_apps_are_public_clients_with_pkce(
    http: TestClient, other_http: TestClient, dewi: User, siti: User, db: Session
) -> None:
    spa_id, spa_secret, r = register_app(http, kind="spa", name="Peta Banjir")
    assert r.status_code == 200 and spa_secret is None
    assert "PKCE" in r.text
    native_uris = "http://127.0.0.1:8765/callback\nhttp://[::1]:8765/cb\nid.go.tangsel.warga:/oauth"
    native_id, native_secret, r = register_app(
        http, kind="native", name="Tangsel Warga", redirect_uris=native_uris
    )
    assert r.status_code == 200 and native_secret is None, r.text
    for cid in (spa_id, native_id):
        client = client_row(db, cid)
        assert client is not None
        assert (client.client_type, client.token_endpoint_auth_method) == ("public", "none")
        assert client.grant_types == ["authorization_code", "refresh_token"]
    page = http.get(f"/developers/apps/{spa_id}")
    assert 'id="example-browser"' in page.text and "oauth4webapi" in page.text
    assert "code_challenge_method" in page.text and "process.env" not in page.text
    assert 'id="example-curl"' in page.text and 'id="example-python"' not in page.text
    assert "Buat secret baru" not in page.text  # nothing to rotate

    approve(db, spa_id, dewi)
    # A public client must use PKCE (refused without), and logs in with it.
    r = other_http.get(authorize_url(spa_id, REDIRECT, pkce=False).url, follow_redirects=False)
    assert r.status_code in (302, 303) and "error=invalid_request" in r.headers["location"]
    claims, _ = log_in_with(other_http, spa_id, None, "siti")
    assert claims["sub"] == siti.id


def test_a_machine_to_machine_app_uses_client_credentials_only(
    http: TestClient, dewi: User, db: Session
) -> None:
    cid, secret, r = register_app(
        http, kind="m2m", name="Sinkron Data", redirect_uris="", scopes=["profile"]
    )
    assert r.status_code == 200 and secret
    client = client_row(db, cid)
    assert client is not None
    assert client.grant_types == ["client_credentials"] and client.scope == ""
    assert client.client_type == "confidential"
    page = http.get(f"/developers/apps/{cid}")
    assert 'id="example-curl"' in page.text and "grant_type=client_credentials" in page.text
    assert f"{ISSUER}/token" in page.text and 'id="example-laravel-1"' not in page.text
    assert (
        "clientCredentialsGrant" in page.text
        and "getAccessToken(&#39;client_credentials&#39;)" in page.text
    )
    approve(db, cid, dewi)
    r = http.post("/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
    assert r.status_code == 200 and r.json()["token_type"].lower() == "bearer"
    r = http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT},
        auth=(cid, secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    app_review.approve  # noqa: B018


def test_forms_without_a_csrf_token_are_refused(http: TestClient, dewi: User, db: Session) -> None:
    open_console_page(http, "/developers", "dewi")
    r = http.post("/developers/apps/new", data=app_form(), follow_redirects=False)
    assert r.status_code == 403
    assert count_clients(db) == 1  # only the console's own client


@pytest.mark.parametrize(
    ("kind", "uri", "indonesian", "english"),
    [
        ("web", "http://app.example.id/cb", "wajib memakai https", "must use https"),
        ("web", "https://*.example.id/cb", "wildcard", "wildcards"),
        ("web", "https://app.example.id/cb#x", "fragmen", "fragment"),
        ("web", "javascript:alert(1)", "tidak diizinkan", "not allowed"),
        ("spa", "data:text/html,hi", "tidak diizinkan", "not allowed"),
        ("web", "http://127.0.0.1:8000/cb", "hanya untuk aplikasi seluler", "native apps only"),
        ("native", "http://localhost:8000/cb", "bukan localhost", "rather than localhost"),
        ("native", "myapp:/cb", "nama domain terbalik", "reversed domain name"),
        ("web", "id.go.tangsel.app:/cb", "wajib memakai https", "must use https"),
        ("native", "http://192.168.1.5:8000/cb", "wajib memakai https", "must use https"),
        ("web", "/relative/cb", "tidak valid", "not valid"),
        ("web", "", "setidaknya satu", "at least one"),
    ],
)
def test_bad_redirect_uris_are_refused_in_the_persons_language(
    http: TestClient, dewi: User, db: Session, kind: str, uri: str, indonesian: str, english: str
) -> None:
    _, _, r = register_app(http, kind=kind, redirect_uris=uri)
    assert r.status_code == 400
    assert indonesian in r.text
    assert 'aria-invalid="true"' in r.text
    r = http.post(
        "/developers/apps/new?lang=en",
        data={
            **app_form(kind=kind, redirect_uris=uri),
            "csrf_token": csrf_token(http, "/developers/apps/new"),
        },
    )
    assert r.status_code == 400 and english in r.text
    assert count_clients(db) == 1  # nothing half-written


def test_the_nik_scope_is_not_self_service(http: TestClient, dewi: User, db: Session) -> None:
    _, _, r = register_app(http, scopes=["profile", "nik"])
    assert r.status_code == 400 and "Akses NIK tidak dapat diminta sendiri" in r.text
    _, _, r = register_app(http, scopes=["profile", "admin"])
    assert r.status_code == 400 and "Data ini tidak tersedia: admin" in r.text


def test_several_problems_are_reported_at_once(http: TestClient, dewi: User) -> None:
    _, _, r = register_app(
        http,
        name="",
        redirect_uris="http://x.example.id/cb",
        logo_uri="ftp://x.example.id/logo.png",
    )
    assert r.status_code == 400
    for text in ("Nama aplikasi wajib diisi", "wajib memakai https", "tidak dapat dipakai"):
        assert text in r.text
