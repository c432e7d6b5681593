"""``sso clients create … --grant-type client_credentials --scope "admin:read admin:write"
[--agency CODE]`` gives an Admin API client that works at once, limited when asked."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.db.models import Client
from tests.admin.conftest import agencies
from tests.api.conftest import fetch_token
from tests.api.test_basics import API
from tests.test_cli import (
    Run,
    sso,  # noqa: F401 (the fixture)
)


def test_an_admin_api_client_from_the_cli(sso: Run, db: Session, http: TestClient) -> None:  # noqa: F811
    agencies(db)
    r = sso(
        "clients",
        "create",
        "--name",
        "SIMPEG DINKES",
        "--grant-type",
        "client_credentials",
        "--scope",
        "admin:read admin:write",
        "--agency",
        "dinkes",
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    token = fetch_token(http, out["client_id"], out["client_secret"])
    auth = {"Authorization": f"Bearer {token}"}
    codes = {a["code"] for a in http.get(f"{API}/agencies", headers=auth).json()["items"]}
    assert codes == {"DINKES"}
    assert http.get(f"{API}/clients", headers=auth).status_code == 403
    unlimited = json.loads(
        sso(
            "clients",
            "create",
            "--name",
            "SOC",
            "--grant-type",
            "client_credentials",
            "--scope",
            "admin:read",
            "--json",
        ).stdout
    )
    token = fetch_token(http, unlimited["client_id"], unlimited["client_secret"])
    listed = http.get(f"{API}/clients", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2


def test_unknown_agency_or_a_person_client_is_refused(sso: Run, db: Session) -> None:  # noqa: F811
    agencies(db)
    r = sso(
        "clients",
        "create",
        "--name",
        "X",
        "--grant-type",
        "client_credentials",
        "--scope",
        "admin:read",
        "--agency",
        "NOPE",
    )
    assert r.exit_code == 1 and "unknown agency" in r.stderr
    r = sso(
        "clients",
        "create",
        "--name",
        "X",
        "--redirect-uri",
        "https://rp.example/cb",
        "--agency",
        "DINKES",
    )
    assert r.exit_code == 1 and r.stderr.startswith("error: ")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Client)) == 0
