"""A SCIM client: a client_credentials client with the ``scim`` scope, its bearer token from
our own /token, and an HTTP client for the provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from sso.db.models import Client
from sso.runtime import Runtime
from tests.factories import create_agency, create_client

MEDIA = "application/scim+json"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Scim:
    http: Any
    client: Client
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": MEDIA, **extra}

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(f"/scim/v2{path}", headers=self.headers(**kw.pop("h", {})), **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self.http.post(
            f"/scim/v2{path}", json=body, headers=self.headers(**kw.pop("h", {})), **kw
        )

    def put(self, path: str, body: Any, **kw: Any) -> Any:
        return self.http.put(
            f"/scim/v2{path}", json=body, headers=self.headers(**kw.pop("h", {})), **kw
        )

    def patch(self, path: str, *ops: dict[str, Any], **kw: Any) -> Any:
        body = {"schemas": [PATCH], "Operations": list(ops)}
        return self.http.patch(
            f"/scim/v2{path}", json=body, headers=self.headers(**kw.pop("h", {})), **kw
        )

    def delete(self, path: str, **kw: Any) -> Any:
        return self.http.delete(f"/scim/v2{path}", headers=self.headers(**kw.pop("h", {})))


def token_for(http: Any, client: Client, secret: str, scope: str = "scim") -> str:
    r = http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client.client_id, secret),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


@pytest.fixture
def scim(http: Any, runtime: Runtime, db: Session) -> Scim:
    create_agency(db, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
    create_agency(db, "DINKES", "Dinas Kesehatan")
    db.commit()
    client, secret = create_client(
        runtime,
        db,
        name="SIMPEG",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="scim",
    )
    assert secret
    return Scim(http, client, token_for(http, client, secret))


def staff_body(
    user_name: str = "budi.santoso",
    nip: str = "198501012010011001",
    department: str = "DISKOMINFO",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": user_name,
        "externalId": f"simpeg-{nip}",
        "name": {"givenName": "Budi", "familyName": "Santoso"},
        "displayName": "Budi Santoso",
        "emails": [
            {"value": f"{user_name}@tangerangselatankota.go.id", "type": "work", "primary": True}
        ],
        "phoneNumbers": [{"value": "+62811000111", "type": "work"}],
        "active": True,
        ENTERPRISE: {"employeeNumber": nip, "department": department},
        **extra,
    }
