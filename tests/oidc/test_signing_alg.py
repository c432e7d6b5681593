"""SSO_DEFAULT_SIGNING_ALG signs the ID tokens of clients that chose no algorithm (issue 14
item 5); a client's own choice is kept, whichever way it registered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.db.models import Client, User
from sso.oauth import initial_access
from sso.web.app_runtime import AppRuntime, build_app_runtime
from tests.conftest import make_settings
from tests.factories import create_client, create_user
from tests.oauth.helpers import REDIRECT, code_form, issue_code, make_env, verify_id_token


@pytest.fixture
def es256_runtime(runtime: AppRuntime, tmp_path: Path) -> Iterator[AppRuntime]:
    """The test's (emptied) database, served with ES256 as the default algorithm."""
    settings = make_settings(runtime.settings.database_url, tmp_path, default_signing_alg="ES256")
    rt = build_app_runtime(settings)
    yield rt
    rt.dispose()


@pytest.fixture
def siti(runtime: AppRuntime, db: Session) -> User:
    return create_user(runtime, db, username="siti")


def _id_token_alg(rt: AppRuntime, client: Client, secret: str, user: User) -> str:
    env = make_env(rt)
    issued = issue_code(rt, client, user)
    r = env.http.post("/token", data=code_form(issued), auth=(client.client_id, secret))
    assert r.status_code == 200, r.text
    body = r.json()
    claims = verify_id_token(
        env,
        body["id_token"],
        client_id=client.client_id,
        nonce=issued.nonce,
        access_token=body["access_token"],
    )
    alg: str = claims["_header"]["alg"]
    return alg


def test_default_alg_signs_for_clients_that_chose_none(
    es256_runtime: AppRuntime, db: Session, siti: User
) -> None:
    undecided, s1 = create_client(es256_runtime, db, name="Undecided", redirect_uris=[REDIRECT])
    chose_rs, s2 = create_client(
        es256_runtime, db, name="RS", redirect_uris=[REDIRECT], id_token_signed_response_alg="RS256"
    )
    assert s1 and s2
    assert undecided.id_token_signed_response_alg is None  # no choice is stored as none
    assert _id_token_alg(es256_runtime, undecided, s1, siti) == "ES256"
    assert _id_token_alg(es256_runtime, chose_rs, s2, siti) == "RS256"


def test_the_default_follows_the_setting_not_the_registration(
    runtime: AppRuntime, es256_runtime: AppRuntime, db: Session, siti: User
) -> None:
    client, secret = create_client(runtime, db, name="Undecided", redirect_uris=[REDIRECT])
    assert secret
    assert _id_token_alg(runtime, client, secret, siti) == "RS256"
    assert _id_token_alg(es256_runtime, client, secret, siti) == "ES256"


def test_dynamic_registration_stores_no_choice_and_reports_the_default(
    es256_runtime: AppRuntime, db: Session
) -> None:
    from sso.app import create_app

    issued = initial_access.issue(db, es256_runtime.secret_key, description="tests", max_uses=5)
    db.commit()
    metadata = {
        "client_name": "Aplikasi Perizinan",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile",
    }
    auth = {"Authorization": f"Bearer {issued.token}"}
    with TestClient(
        create_app(es256_runtime.settings, es256_runtime), base_url="http://testserver"
    ) as http:
        r = http.post("/oauth2/register", json=metadata, headers=auth)
        assert r.status_code == 201, r.text
        assert r.json()["id_token_signed_response_alg"] == "ES256"
        undecided = r.json()["client_id"]
        r = http.post(
            "/oauth2/register",
            headers=auth,
            json=metadata | {"id_token_signed_response_alg": "RS256"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["id_token_signed_response_alg"] == "RS256"
        chosen = r.json()["client_id"]
        document = http.get("/.well-known/openid-configuration").json()
    db.expire_all()
    rows = {
        c.client_id: c for c in db.query(Client).filter(Client.client_id.in_([undecided, chosen]))
    }
    assert rows[undecided].id_token_signed_response_alg is None
    assert rows[chosen].id_token_signed_response_alg == "RS256"
    # Both are published and either may sign; RS256 must always be listed (OIDC Discovery §3).
    assert set(document["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
