"""An upstream (a second instance of our provider playing INApas) registered here, an app
asking for a login, and the steps of a brokered login over HTTP, shared by the federation tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent
from sso.federation import registry
from sso.runtime import Runtime
from tests.factories import create_client
from tests.federation.idp import Upstream, running_upstream
from tests.oidc.flow import authorize_url, query_of

CALLBACK = "http://testserver/upstreams/inapas/callback"
RP = "https://rp.example.id/callback"


@pytest.fixture(scope="module")
def inapas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with running_upstream(tmp_path_factory.mktemp("inapas")) as up:
        up.allow_redirect(CALLBACK)
        yield up


@pytest.fixture
def registered(runtime: Runtime, db: Session, inapas: Upstream) -> str:
    with runtime.sessions() as s:
        row = registry.create(
            s,
            runtime.settings,
            runtime.encryptor,
            registry.UpstreamSpec(
                slug="inapas",
                name="INApas",
                issuer=inapas.url,
                client_id=inapas.client_id,
                client_secret=inapas.client_secret,
                preset="inapas",
            ),
        )
        s.commit()
        return row.id


@pytest.fixture
def rp(runtime: Runtime, db: Session) -> tuple[str, str]:
    client, secret = create_client(
        runtime, db, redirect_uris=[RP], scope="openid profile email nik", trusted=True
    )
    assert secret
    return client.client_id, secret


def start_login(http: TestClient, client_id: str) -> tuple[str, Any, str]:
    """An app's authorization request parked at our SSO, and the person pressing "Masuk
    dengan INApas": (our interaction path, the request, the upstream's authorization URL)."""
    req = authorize_url(client_id, RP, "openid profile email nik")
    r = http.get(req.url, follow_redirects=False)
    interaction = r.headers["location"]
    page = http.get(interaction)
    assert "Masuk dengan INApas" in page.text
    r = http.get(
        f"/upstreams/inapas/start?interaction={interaction.rsplit('/', 1)[1]}",
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return interaction, req, r.headers["location"]


def finish(http: TestClient, callback: str) -> Any:
    assert callback.startswith(CALLBACK), callback
    return http.get(callback.removeprefix("http://testserver"), follow_redirects=False)


def tokens(http: TestClient, rp: tuple[str, str], req: Any, location: str) -> dict[str, Any]:
    r = http.get(location, follow_redirects=False)
    assert r.status_code in (302, 303), r.text
    code = query_of(r.headers["location"])["code"]
    r = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": req.verifier,
        },
        auth=rp,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def id_claims(http: TestClient, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(http.get("/jwks.json").json())
    return dict(jwt.decode(token, keys).claims)


def events(db: Session) -> list[str]:
    return list(db.scalars(select(AuditEvent.event).order_by(AuditEvent.id)))


def count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)
