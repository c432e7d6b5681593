"""scim2-tester (the public SCIM compliance checker, also behind ``scim2 test``) against a real
provider on a loopback port, with a bearer token from our own /token: no check may fail.

The tester writes random strings into every writable attribute the server publishes. One of ours
cannot take a random string: ``employeeNumber`` is the NIP, 18 digits that encode a birth date,
a start of service and a gender, unique per person. So the tester is given the provider as we
publish it (fetched from /Schemas, /ResourceTypes, /ServiceProviderConfig) with that one attribute
marked read-only in its copy; everything else is checked exactly as published, and NIP writes
(valid, malformed, taken) are tested in ``test_users.py``."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import ResourceType, Schema, ScimProvider, ServiceProviderConfig
from scim2_tester import Status, check_server

from tests.e2e.conftest import LiveServer, live_server, live_settings  # noqa: F401
from tests.factories import create_agency, create_client


@pytest.fixture
def token(live_server: LiveServer) -> str:  # noqa: F811
    runtime = live_server.runtime
    with runtime.sessions() as session:
        create_agency(session, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
        create_agency(session, "DINKES", "Dinas Kesehatan")
        session.commit()
        client, secret = create_client(
            runtime,
            session,
            name="SIMPEG",
            redirect_uris=[],
            grant_types=["client_credentials"],
            scope="scim",
        )
        client_id = client.client_id
    r = httpx.post(
        f"{live_server.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret or ""),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_scim2_tester_reports_no_failure(live_server: LiveServer, token: str) -> None:  # noqa: F811
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2", headers={"Authorization": f"Bearer {token}"}
    )
    client = SyncSCIMClient(http, provider=_published_provider(http))
    results = check_server(client)
    failures: list[Any] = [r for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    report = "\n".join(f"{r.status.name} {r.title}: {r.reason}" for r in failures)
    assert not failures, report
    assert sum(r.status == Status.SUCCESS for r in results) > 20


def _published_provider(http: httpx2.Client) -> ScimProvider:
    schemas = http.get("/Schemas").json()["Resources"]
    for schema in schemas:
        for attribute in schema["attributes"]:
            if attribute["name"] == "employeeNumber":
                attribute["mutability"] = "readOnly"
    resource_types = http.get("/ResourceTypes").json()["Resources"]
    config = http.get("/ServiceProviderConfig").json()
    return ScimProvider.from_discovery(
        [Schema.model_validate(s) for s in schemas],
        [ResourceType.model_validate(r) for r in resource_types],
        ServiceProviderConfig.model_validate(config),
    )
