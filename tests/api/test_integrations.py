"""The Admin API's upstreams and webhooks: the same services as the console and the CLI
(issue 15's upstream identity providers, issue 16's webhooks), admins only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import UpstreamProvider, WebhookSubscription
from tests.admin.conftest import agencies
from tests.api.conftest import MachineFactory
from tests.api.test_basics import API, problem
from tests.webhooks.receiver import Receiver, wait_for


def test_upstreams(http: TestClient, db: Session, machine: MachineFactory) -> None:
    agencies(db)
    m = machine()
    r = http.post(
        f"{API}/upstreams",
        headers=m.auth,
        json={
            "slug": "kota-idp",
            "name": "IdP Kota",
            "issuer": "https://idp.example.id",
            "client_id": "tangsel-sso",
            "client_secret": "upstream-secret-value-123",
        },
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["redirect_uri"] == "http://testserver/upstreams/kota-idp/callback"
    assert "upstream-secret-value-123" not in r.text and "client_secret" not in made
    row = db.scalar(select(UpstreamProvider))
    assert row is not None and "upstream-secret-value-123" not in row.client_secret_encrypted
    problem(
        http.post(
            f"{API}/upstreams",
            headers=m.auth,
            json={
                "slug": "kota-idp",
                "name": "Lagi",
                "issuer": "https://idp.example.id",
                "client_id": "x",
                "client_secret": "y",
            },
        ),
        409,
        "upstream.slug_taken",
    )
    problem(
        http.post(
            f"{API}/upstreams",
            headers=m.auth,
            json={
                "slug": "bad",
                "name": "Bad",
                "issuer": "https://idp.example.id?x=1",
                "client_id": "x",
                "client_secret": "y",
            },
        ),
        400,
        "upstream.issuer_invalid",
    )
    listed = http.get(f"{API}/upstreams", headers=m.auth, params={"q": "google"}).json()
    assert listed["items"] == []
    listed = http.get(f"{API}/upstreams", headers=m.auth, params={"q": "kota"}).json()
    assert [u["slug"] for u in listed["items"]] == ["kota-idp"]
    etag = http.get(f"{API}/upstreams/kota-idp", headers=m.auth).headers["etag"]
    r = http.patch(
        f"{API}/upstreams/kota-idp",
        json={"name": "IdP Pemkot"},
        headers={**m.auth, "If-Match": etag},
    )
    assert r.status_code == 200 and r.json()["name"] == "IdP Pemkot"
    problem(
        http.patch(
            f"{API}/upstreams/kota-idp", json={"name": "Lost"}, headers={**m.auth, "If-Match": etag}
        ),
        412,
        "admin.conflict",
    )
    assert http.post(f"{API}/upstreams/kota-idp/disable", headers=m.auth).json()["enabled"] is False
    assert http.post(f"{API}/upstreams/kota-idp/enable", headers=m.auth).json()["enabled"]
    limited = machine(name="OPD", agency="DINKES")
    problem(http.get(f"{API}/upstreams", headers=limited.auth), 403, "admin.forbidden")


def test_webhooks_created_through_the_api_receive_what_the_api_does(
    http: TestClient, db: Session, machine: MachineFactory
) -> None:
    agencies(db)
    m = machine()
    receiver = Receiver()
    try:
        r = http.post(
            f"{API}/webhooks",
            headers=m.auth,
            json={"url": receiver.url, "event_types": ["agency.*"], "description": "SOC"},
        )
        assert r.status_code == 201, r.text
        hook = r.json()
        assert hook["secret"].startswith("whsec_") and hook["status"] == "active"
        got = http.get(f"{API}/webhooks/{hook['id']}", headers=m.auth)
        assert "secret" not in got.json()
        sub = db.scalar(select(WebhookSubscription))
        assert sub is not None and hook["secret"] not in sub.secret_encrypted
        receiver.secrets.append(hook["secret"])
        # what the API does reaches the subscriber, signed with that secret
        assert (
            http.post(
                f"{API}/agencies",
                headers=m.auth,
                json={"code": "BPBD", "name": "Badan Penanggulangan Bencana"},
            ).status_code
            == 201
        )
        wait_for(lambda: receiver.messages, "the delivery")
        assert receiver.types() == ["agency.created"] and receiver.bad_signatures == 0
        deliveries = http.get(f"{API}/webhooks/{hook['id']}/deliveries", headers=m.auth)
        wait_for(
            lambda: (
                http.get(f"{API}/webhooks/{hook['id']}/deliveries", headers=m.auth).json()["items"][
                    0
                ]["status"]
                == "delivered"
            ),
            "the delivery recorded",
        )
        [delivery] = deliveries.json()["items"]
        r = http.post(
            f"{API}/webhooks/{hook['id']}/deliveries/{delivery['id']}/send-again", headers=m.auth
        )
        assert r.status_code == 200, r.text
        wait_for(lambda: receiver.deliveries == 2, "the second delivery", timeout=30)
        # change, pause, resume, rotate, delete
        etag = got.headers["etag"]
        r = http.patch(
            f"{API}/webhooks/{hook['id']}",
            json={"event_types": ["user.*"]},
            headers={**m.auth, "If-Match": etag},
        )
        assert r.status_code == 200 and r.json()["event_types"] == ["user.*"]
        assert (
            http.post(f"{API}/webhooks/{hook['id']}/pause", headers=m.auth).json()["status"]
            == "paused"
        )
        assert (
            http.post(f"{API}/webhooks/{hook['id']}/resume", headers=m.auth).json()["status"]
            == "active"
        )
        rotated = http.post(f"{API}/webhooks/{hook['id']}/rotate-secret", headers=m.auth)
        assert rotated.json()["secret"].startswith("whsec_")
        assert rotated.json()["secret"] != hook["secret"]
        problem(
            http.post(
                f"{API}/webhooks",
                headers=m.auth,
                json={"url": "ftp://hooks.example.id/x", "event_types": ["user.*"]},
            ),
            400,
            "admin.webhooks.error.url",
        )
        etag = http.get(f"{API}/webhooks/{hook['id']}", headers=m.auth).headers["etag"]
        assert (
            http.delete(
                f"{API}/webhooks/{hook['id']}", headers={**m.auth, "If-Match": etag}
            ).status_code
            == 204
        )
        problem(http.get(f"{API}/webhooks/{hook['id']}", headers=m.auth), 404)
        limited = machine(name="OPD", agency="DINKES")
        problem(http.get(f"{API}/webhooks", headers=limited.auth), 403, "admin.forbidden")
    finally:
        receiver.close()
