"""Machine callers for the Admin API tests: client_credentials clients registered like the CLI
registers them, and access tokens from the real /token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.db.models import Client
from sso.runtime import Runtime
from sso.storage import agencies as agency_repo
from tests.factories import create_client


@dataclass
class Machine:
    client: Client
    secret: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def fetch_token(http: TestClient, client_id: str, secret: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    r = http.post("/token", data=data, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


MachineFactory = Callable[..., Machine]


@pytest.fixture
def machine(runtime: Runtime, db: Session, http: TestClient) -> MachineFactory:
    """``machine(scope="admin:read", agency="DISKOMINFO", name=…)``: a registered client
    and a fresh token of it."""

    def make(
        scope: str = "admin:read admin:write",
        *,
        agency: str | None = None,
        name: str = "SIMPEG sync",
        token_scope: str | None = None,
    ) -> Machine:
        client, secret = create_client(
            runtime,
            db,
            name=name,
            redirect_uris=[],
            grant_types=["client_credentials"],
            scope=scope,
        )
        assert secret is not None
        if agency is not None:
            found = agency_repo.get_by_code(db, agency)
            assert found is not None
            client.admin_agency_id = found.id
            db.commit()
        return Machine(client, secret, fetch_token(http, client.client_id, secret, token_scope))

    return make


# Mail goes to a real SMTP server started by the test, as in the console's tests.
from tests.admin.conftest import mailbox, settings  # noqa: E402,F401
