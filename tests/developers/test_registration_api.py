"""Dynamic Client Registration (RFC 7591) and Management (RFC 7592) over HTTP: initial access
tokens, metadata checks with the RFC's error codes, and the registration access token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import Client, Grant, InitialAccessToken, User
from sso.oauth import app_review, initial_access
from sso.runtime import Runtime
from tests.developers.helpers import ISSUER, REDIRECT, client_row, events, log_in_with
from tests.oauth.helpers import client_key, public_jwks

REGISTER = "/oauth2/register"


def issue(runtime: Runtime, db: Session, **kwargs: Any) -> str:
    issued = initial_access.issue(db, runtime.secret_key, description="tests", **kwargs)
    db.commit()
    return issued.token


def metadata(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_name": "Aplikasi Perizinan",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile email",
        "logo_uri": "https://app.example.id/logo.png",
        "contacts": ["dev@app.example.id"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count_clients(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(Client)) or 0)


@pytest.fixture
def iat(runtime: Runtime, db: Session) -> str:
    return issue(runtime, db, max_uses=5)


def test_discovery_advertises_the_registration_endpoint(http: TestClient) -> None:
    meta = http.get("/.well-known/openid-configuration").json()
    assert meta["registration_endpoint"] == f"{ISSUER}/oauth2/register"
    assert http.get("/.well-known/oauth-authorization-server").json()["registration_endpoint"]


def test_register_read_update_delete(
    http: TestClient, iat: str, db: Session, siti: User, runtime: Runtime
) -> None:
    r = http.post(REGISTER, json=metadata(), headers=bearer(iat))
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    client_id, secret, rat = (
        body["client_id"],
        body["client_secret"],
        body["registration_access_token"],
    )
    assert secret.startswith("tsso_cs_") and rat.startswith("tsso_rat_")
    assert body["registration_client_uri"] == f"{ISSUER}/oauth2/register/{client_id}"
    assert body["client_secret_expires_at"] == 0 and body["client_id_issued_at"] > 0
    assert body["redirect_uris"] == [REDIRECT] and body["scope"] == "openid profile email"
    assert body["status"] == "pending" and body["application_type"] == "web"
    row = client_row(db, client_id)
    assert row is not None and row.status == "pending" and row.app_kind == "web"
    assert row.registration_access_token_hash and rat not in row.registration_access_token_hash
    assert row.contacts == ["dev@app.example.id"] and row.owner_id is None
    [registered] = events(db, "client.registered")
    assert registered.client_id == client_id and registered.details["status"] == "pending"
    assert rat not in str(registered.details) and secret not in str(registered.details)

    # Pending: it logs nobody in until an admin approves it.
    from tests.oidc.flow import authorize_url

    assert (
        http.get(authorize_url(client_id, REDIRECT).url, follow_redirects=False).status_code == 400
    )
    app_review.approve(db, row, siti.id)
    db.commit()
    claims, _ = log_in_with(http, client_id, secret, "siti")
    assert claims["aud"] == client_id

    # RFC 7592 read: the metadata, never a secret.
    r = http.get(f"{REGISTER}/{client_id}", headers=bearer(rat))
    assert r.status_code == 200 and r.json()["client_name"] == "Aplikasi Perizinan"
    assert "client_secret" not in r.json() and "registration_access_token" not in r.json()
    assert r.json()["status"] == "active"

    # Update is a full replacement: what is left out goes back to the default.
    new = metadata(
        client_id=client_id,
        client_name="Perizinan Online",
        logo_uri=None,
        redirect_uris=[REDIRECT, "https://app.example.id/cb2"],
        contacts=None,
    )
    r = http.put(f"{REGISTER}/{client_id}", json=new, headers=bearer(rat))
    assert r.status_code == 200, r.text
    assert r.json()["client_name"] == "Perizinan Online" and "logo_uri" not in r.json()
    row = client_row(db, client_id)
    assert row is not None and row.logo_uri is None and row.contacts == []
    assert row.redirect_uris == [REDIRECT, "https://app.example.id/cb2"]
    assert row.status == "active"  # a replacement does not undo the review

    # Delete: gone, its grants revoked, audited.
    r = http.delete(f"{REGISTER}/{client_id}", headers=bearer(rat))
    assert r.status_code == 204
    assert client_row(db, client_id) is None
    db.expire_all()
    grants = db.scalars(select(Grant).where(Grant.client_id == client_id)).all()
    assert grants and all(g.revoked_at is not None for g in grants)
    [deleted] = events(db, "client.deleted")
    assert deleted.details["by"] == "dynamic_registration"
    assert http.get(f"{REGISTER}/{client_id}", headers=bearer(rat)).status_code == 401


def test_a_token_that_approves_makes_active_clients(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    token = issue(runtime, db, approve_clients=True)
    r = http.post(
        REGISTER,
        json=metadata(
            grant_types=["client_credentials"], response_types=[], redirect_uris=None, scope=None
        ),
        headers=bearer(token),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "active" and body["grant_types"] == ["client_credentials"]
    r = http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(body["client_id"], body["client_secret"]),
    )
    assert r.status_code == 200, r.text


def test_public_native_and_private_key_jwt_clients(http: TestClient, iat: str, db: Session) -> None:
    r = http.post(
        REGISTER,
        headers=bearer(iat),
        json=metadata(
            application_type="native",
            token_endpoint_auth_method="none",
            redirect_uris=["http://127.0.0.1:7000/cb", "id.go.tangsel.warga:/oauth"],
        ),
    )
    assert r.status_code == 201, r.text
    assert "client_secret" not in r.json() and r.json()["application_type"] == "native"
    row = client_row(db, r.json()["client_id"])
    assert row is not None and (row.client_type, row.app_kind) == ("public", "native")

    jwks = public_jwks(client_key())
    r = http.post(
        REGISTER,
        headers=bearer(iat),
        json=metadata(token_endpoint_auth_method="private_key_jwt", jwks=jwks),
    )
    assert r.status_code == 201, r.text
    assert "client_secret" not in r.json() and r.json()["jwks"] == jwks


INVALID_REDIRECTS = [
    {"redirect_uris": []},
    {"redirect_uris": ["http://app.example.id/cb"]},
    {"redirect_uris": ["https://*.example.id/cb"]},
    {"redirect_uris": ["https://app.example.id/cb#frag"]},
    {"redirect_uris": ["javascript:alert(1)"]},
    {"redirect_uris": ["http://127.0.0.1:9000/cb"]},  # loopback: native apps only
    {"redirect_uris": ["com.example.app:/cb"]},  # private-use scheme: native apps only
    {
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "redirect_uris": ["myapp:/cb"],
    },
    {"post_logout_redirect_uris": ["http://app.example.id/bye"]},
]


@pytest.mark.parametrize("change", INVALID_REDIRECTS)
def test_bad_redirect_uris_are_invalid_redirect_uri(
    http: TestClient, iat: str, db: Session, change: dict[str, Any]
) -> None:
    r = http.post(REGISTER, json=metadata(**change), headers=bearer(iat))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_redirect_uri" and r.json()["error_description"]
    assert count_clients(db) == 0


INVALID_METADATA = [
    {"client_name": ""},
    {"client_name": 42},
    {"redirect_uris": "https://app.example.id/cb"},  # not an array
    {"grant_types": ["password"]},
    {"grant_types": ["implicit"]},
    {"response_types": ["token"]},
    {"response_types": ["code", "id_token"]},
    {"token_endpoint_auth_method": "client_secret_jwt"},
    {
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
        "token_endpoint_auth_method": "none",
    },
    {"grant_types": ["client_credentials", "authorization_code"]},
    {"scope": "openid nik"},
    {"scope": "openid admin"},
    {"application_type": "desktop"},
    {"logo_uri": "ftp://app.example.id/logo.png"},
    {"jwks_uri": "https://app.example.id/jwks", "jwks": {"keys": []}},
    {"token_endpoint_auth_method": "private_key_jwt"},  # no jwks: we do not fetch jwks_uri
    {
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [{"kty": "oct", "k": "AAAA"}]},
    },
    {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": "nope"}},
    {"contacts": ["not an address"]},
    {"id_token_signed_response_alg": "none"},
    {"backchannel_logout_session_required": "yes"},
]


@pytest.mark.parametrize("change", INVALID_METADATA)
def test_bad_metadata_is_invalid_client_metadata(
    http: TestClient, iat: str, db: Session, change: dict[str, Any]
) -> None:
    r = http.post(REGISTER, json=metadata(**change), headers=bearer(iat))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_client_metadata" and r.json()["error_description"]
    assert count_clients(db) == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[1, 2]", "application/json"),
        (b"{not json", "application/json"),
        (b"client_name=x", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    http: TestClient, iat: str, body: bytes, content_type: str
) -> None:
    r = http.post(REGISTER, content=body, headers={**bearer(iat), "Content-Type": content_type})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"


def test_a_refused_registration_does_not_use_the_token(
    http: TestClient, runtime: Runtime, db: Session
) -> None:
    token = issue(runtime, db, max_uses=1)
    assert http.post(REGISTER, json=metadata(scope="nik"), headers=bearer(token)).status_code == 400
    assert http.post(REGISTER, json=metadata(), headers=bearer(token)).status_code == 201
    assert http.post(REGISTER, json=metadata(), headers=bearer(token)).status_code == 401


def _expire(db: Session, token_id: int) -> None:
    row = db.get(InitialAccessToken, token_id)
    assert row is not None
    row.expires_at = now() - timedelta(seconds=1)
    db.flush()


@pytest.mark.parametrize("case", ["missing", "unknown", "expired", "used_up", "revoked", "basic"])
def test_registration_needs_a_live_initial_access_token(
    http: TestClient, runtime: Runtime, db: Session, case: str
) -> None:
    issued = initial_access.issue(db, runtime.secret_key, max_uses=1)
    db.commit()
    headers = bearer(issued.token)
    if case == "missing":
        headers = {}
    elif case == "unknown":
        headers = bearer("tsso_it_" + "x" * 43)
    elif case == "expired":
        _expire(db, issued.row.id)
    elif case == "used_up":
        assert http.post(REGISTER, json=metadata(), headers=headers).status_code == 201
    elif case == "revoked":
        initial_access.revoke(db, issued.row.id)
        db.commit()
    elif case == "basic":
        headers = {"Authorization": "Basic " + issued.token}
    before = count_clients(db)
    r = http.post(REGISTER, json=metadata(), headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert count_clients(db) == before
    refused = events(db, "client.registration_refused")
    assert refused and refused[-1].outcome == "failure"


def test_management_needs_the_clients_own_registration_access_token(
    http: TestClient, iat: str, db: Session
) -> None:
    first = http.post(REGISTER, json=metadata(), headers=bearer(iat)).json()
    second = http.post(REGISTER, json=metadata(client_name="B"), headers=bearer(iat)).json()
    cid, rat = first["client_id"], first["registration_access_token"]
    wrong = [None, "tsso_rat_wrong", iat, second["registration_access_token"]]
    for token in wrong:
        headers = bearer(token) if token else {}
        assert http.get(f"{REGISTER}/{cid}", headers=headers).status_code == 401
        r = http.put(
            f"{REGISTER}/{cid}", json=metadata(client_id=cid, client_name="X"), headers=headers
        )
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"
        assert http.delete(f"{REGISTER}/{cid}", headers=headers).status_code == 401
    # A client unknown to the token gets the same answer as a wrong token.
    assert http.get(f"{REGISTER}/nosuchclient", headers=bearer(rat)).status_code == 401
    row = client_row(db, cid)
    assert row is not None and row.name == "Aplikasi Perizinan"


def test_an_update_is_checked_like_a_registration(http: TestClient, iat: str, db: Session) -> None:
    body = http.post(REGISTER, json=metadata(), headers=bearer(iat)).json()
    cid, rat = body["client_id"], body["registration_access_token"]
    url, headers = f"{REGISTER}/{cid}", bearer(rat)
    cases = [
        (metadata(client_id=cid, redirect_uris=["http://evil.example/cb"]), "invalid_redirect_uri"),
        (metadata(client_id=cid, scope="openid nik"), "invalid_client_metadata"),
        (metadata(client_name="no client_id"), "invalid_client_metadata"),
        (metadata(client_id=cid, client_secret="wrong"), "invalid_client_metadata"),
        (metadata(client_id=cid, token_endpoint_auth_method="none"), "invalid_client_metadata"),
    ]
    for payload, error in cases:
        r = http.put(url, json=payload, headers=headers)
        assert r.status_code == 400 and r.json()["error"] == error, (payload, r.text)
    row = client_row(db, cid)
    assert row is not None and row.redirect_uris == [REDIRECT] and row.client_type == "confidential"
    r = http.put(
        url, json=metadata(client_id=cid, client_secret=body["client_secret"]), headers=headers
    )
    assert r.status_code == 200
