"""Fixtures of the token-side tests: the app with the token router, clients and people."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from sso.db.models import Client, User
from sso.web.app_runtime import AppRuntime
from tests.factories import create_client, create_user
from tests.oauth.helpers import REDIRECT, Env, make_env


@pytest.fixture(autouse=True)
def _insecure_transport_for_authlib_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test server is http://testserver; Authlib's *client* refuses plain http otherwise.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def env(runtime: AppRuntime) -> Env:
    return make_env(runtime)


@pytest.fixture
def rp(runtime: AppRuntime, db: Session) -> tuple[Client, str]:
    """A confidential client (client_secret_basic) with code + refresh grants."""
    client, secret = create_client(runtime, db, redirect_uris=[REDIRECT])
    assert secret is not None
    return client, secret


@pytest.fixture
def public_rp(runtime: AppRuntime, db: Session) -> Client:
    client, _ = create_client(
        runtime, db, name="Hotspot app", public=True, redirect_uris=[REDIRECT]
    )
    return client


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
    """Staff of an agency (OPD)."""
    return create_user(
        runtime,
        db,
        username="budi",
        kind="staff",
        nip="198503302010011002",
        position="Analis Data",
        given_name="Budi",
    )
