"""GET|POST /userinfo (OIDC Core §5.3): claims by scope, the ``claims`` parameter, and Bearer
errors (RFC 6750 §3)."""

from __future__ import annotations

from typing import Any

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from sqlalchemy.orm import Session

from sso.db.models import Client, Role, User
from sso.storage import roles as role_repo
from sso.web.app_runtime import AppRuntime
from tests.factories import create_client, create_user
from tests.oauth.helpers import REDIRECT, Env, code_form, issue_code, make_env


@pytest.fixture
def env(runtime: AppRuntime, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    return make_env(runtime)


@pytest.fixture
def rp(runtime: AppRuntime, db: Session) -> tuple[Client, str]:
    client, secret = create_client(
        runtime,
        db,
        redirect_uris=[REDIRECT],
        scope="openid profile email phone opd roles nik offline_access api:read",
    )
    assert secret
    return client, secret


@pytest.fixture
def siti(runtime: AppRuntime, db: Session) -> User:
    return create_user(
        runtime,
        db,
        username="siti",
        given_name="Siti",
        family_name="Aminah",
        phone="+6281234567890",
    )


@pytest.fixture
def budi(runtime: AppRuntime, db: Session) -> User:
    return create_user(
        runtime,
        db,
        username="budi",
        kind="staff",
        nip="198503302010011002",
        position="Analis Data",
        given_name="Budi",
    )


def access_token(
    env: Env, rp: tuple[Client, str], user: User, scope: str, claims: dict[str, Any] | None = None
) -> str:
    client, secret = rp
    issued = issue_code(env.runtime, client, user, scope=scope, claims=claims)
    r = env.http.post("/token", data=code_form(issued), auth=(client.client_id, secret))
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def get(env: Env, token: str) -> Any:
    return env.http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})


def test_profile_email_phone_with_authlib_client(
    env: Env, rp: tuple[Client, str], siti: User
) -> None:
    token = access_token(env, rp, siti, "openid profile email phone")
    oauth = OAuth2Client(
        rp[0].client_id,
        rp[1],
        token={"access_token": token, "token_type": "Bearer"},
        transport=env.http._transport,
        base_url="http://testserver",
    )
    r = oauth.get("/userinfo")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["sub"] == siti.id
    assert body["name"] == "Siti Aminah" and body["given_name"] == "Siti"
    assert body["family_name"] == "Aminah" and body["preferred_username"] == "siti"
    assert body["locale"] == "id" and isinstance(body["updated_at"], int)
    assert body["email"] == "siti@example.id" and body["email_verified"] is True
    assert body["phone_number"] == "+6281234567890" and body["phone_number_verified"] is False
    assert not {"opd", "nip", "roles", "nik"} & set(body)


def test_only_sub_without_claim_scopes(env: Env, rp: tuple[Client, str], siti: User) -> None:
    assert get(env, access_token(env, rp, siti, "openid")).json() == {"sub": siti.id}


def test_opd_for_staff(
    env: Env, rp: tuple[Client, str], budi: User, runtime: AppRuntime, db: Session
) -> None:
    client, _ = rp
    role_repo.assign_to_user(db, role_repo.get_or_create_global(db, "admin"), budi.id)
    editor = Role(name="editor", client_id=client.id)
    db.add(editor)
    db.flush()
    role_repo.assign_to_user(db, editor, budi.id)
    elsewhere, _ = create_client(runtime, db, name="Elsewhere", redirect_uris=[REDIRECT])
    other_role = Role(name="other-app-role", client_id=elsewhere.id)
    db.add(other_role)
    db.flush()
    role_repo.assign_to_user(db, other_role, budi.id)
    db.commit()
    body = get(env, access_token(env, rp, budi, "openid opd")).json()
    assert body["opd"] == {"code": "DISKOMINFO", "name": "Dinas Komunikasi dan Informatika"}
    assert body["position"] == "Analis Data" and body["nip"] == "198503302010011002"
    assert body["roles"] == ["admin", "editor"]  # global + this client's, not other apps'
    roles_only = get(env, access_token(env, rp, budi, "openid roles")).json()
    assert roles_only == {"sub": budi.id, "roles": ["admin", "editor"]}


def test_opd_for_a_citizen_has_no_staff_claims(
    env: Env, rp: tuple[Client, str], siti: User
) -> None:
    body = get(env, access_token(env, rp, siti, "openid opd")).json()
    assert body == {"sub": siti.id, "roles": []}


def test_nik_only_when_the_person_has_one(
    env: Env, rp: tuple[Client, str], siti: User, runtime: AppRuntime, db: Session
) -> None:
    assert get(env, access_token(env, rp, siti, "openid nik")).json() == {"sub": siti.id}
    user = db.get(User, siti.id)
    assert user is not None
    user.nik_encrypted = runtime.encryptor.encrypt("3674012301900001")
    db.commit()
    body = get(env, access_token(env, rp, siti, "openid nik")).json()
    assert body == {"sub": siti.id, "nik": "3674012301900001", "nik_verified": False}


def test_claims_parameter_cannot_widen_userinfo(
    env: Env, rp: tuple[Client, str], siti: User
) -> None:
    claims = {
        "userinfo": {"email": {"essential": True}, "nik": None, "bogus": None},
        "id_token": "not an object",
    }
    body = get(env, access_token(env, rp, siti, "openid profile", claims)).json()
    assert "email" not in body and "nik" not in body and "bogus" not in body
    assert body["preferred_username"] == "siti"


def test_post_with_header_or_form(env: Env, rp: tuple[Client, str], siti: User) -> None:
    token = access_token(env, rp, siti, "openid email")
    r = env.http.post("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["email"] == "siti@example.id"
    r = env.http.post("/userinfo", data={"access_token": token})
    assert r.status_code == 200 and r.json()["sub"] == siti.id
    r = env.http.post(
        "/userinfo", data={"access_token": token}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = env.http.post(
        "/userinfo",
        content=b"\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    # A token in the query string is not accepted (RFC 6750 §2.3 is not offered).
    r = env.http.get("/userinfo", params={"access_token": token})
    assert r.status_code == 401


def test_bearer_errors(env: Env, rp: tuple[Client, str], siti: User) -> None:
    r = env.http.get("/userinfo")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="tangsel-sso"'
    for header in ("Bearer nope", "Bearer a.b.c", "Basic Zm9vOmJhcg=="):
        r = env.http.get("/userinfo", headers={"Authorization": header})
        assert r.status_code in (400, 401), header
        if r.status_code == 401:
            assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_revoked_token_and_grant(env: Env, rp: tuple[Client, str], siti: User) -> None:
    client, secret = rp
    token = access_token(env, rp, siti, "openid profile")
    assert get(env, token).status_code == 200
    assert (
        env.http.post("/revoke", data={"token": token}, auth=(client.client_id, secret)).status_code
        == 200
    )
    r = get(env, token)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_disabled_user_and_client(
    env: Env, rp: tuple[Client, str], siti: User, db: Session
) -> None:
    token = access_token(env, rp, siti, "openid profile")
    user = db.get(User, siti.id)
    assert user is not None
    user.status = "disabled"
    db.commit()
    assert get(env, token).status_code == 401
    user.status = "active"
    client = db.get(Client, rp[0].id)
    assert client is not None
    client.status = "disabled"
    db.commit()
    assert get(env, token).status_code == 401


def test_token_without_openid_is_insufficient(env: Env, rp: tuple[Client, str], siti: User) -> None:
    r = get(env, access_token(env, rp, siti, "api:read"))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
