"""The Admin API as a whole: its OpenAPI description, problem details, keyset pages with Link
headers, ETag / If-Match, one audit event per call, the per-client rate limit."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent
from sso.runtime import Runtime
from tests.admin.conftest import agencies
from tests.api.conftest import MachineFactory
from tests.conftest import make_settings
from tests.factories import create_user

API = "/api/admin/v1"


def problem(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"]
    if code is not None:
        assert body["type"] == f"urn:tangsel-sso:problem:{code}", body
    return body


def test_openapi_3_1_describes_every_resource(http: TestClient) -> None:
    r = http.get(f"{API}/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    paths = set(doc["paths"])
    for path in (
        "/users",
        "/users/{user_id}",
        "/users/{user_id}/{action}",
        "/agencies",
        "/agencies/{code}",
        "/agencies/{code}/merge",
        "/roles",
        "/roles/{role_id}/assignments",
        "/clients",
        "/clients/{client_id}/{action}",
        "/sessions",
        "/sessions/{session_id}",
        "/audit-events",
        "/keys",
        "/keys/rotate",
        "/keys/{kid}/retire",
        "/upstreams",
        "/upstreams/{slug}",
        "/upstreams/{slug}/{action}",
        "/webhooks",
        "/webhooks/{subscription_id}",
        "/webhooks/{subscription_id}/deliveries",
        "/webhooks/{subscription_id}/deliveries/{delivery_id}/send-again",
    ):
        assert path in paths, path
    assert doc["servers"] == [{"url": API}]
    schemes = doc["components"]["securitySchemes"]
    flow = schemes["adminClient"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"].endswith("/token")
    assert set(flow["scopes"]) == {"admin:read", "admin:write"}
    # and the provider's own description does not list the API's routes
    main = http.get("/openapi.json").json()
    assert not any(p.startswith("/api/admin") for p in main["paths"])


def test_errors_are_problem_details(http: TestClient, machine: MachineFactory) -> None:
    m = machine()
    problem(http.get(f"{API}/users"), 401)
    problem(http.get(f"{API}/users/nobody", headers=m.auth), 404, "admin.error.user_unknown")
    problem(http.get(f"{API}/nowhere", headers=m.auth), 404)
    body = problem(
        http.post(
            f"{API}/agencies",
            headers=m.auth,
            json={"code": "X1", "name": "n", "password": "hunter2-secret"},
        ),
        400,
        "invalid_request",
    )
    assert body["errors"] == [
        {"pointer": "#/body/password", "detail": "Extra inputs are not permitted"}
    ]
    assert "hunter2" not in str(body)
    problem(http.get(f"{API}/users", headers=m.auth, params={"limit": 0}), 400)
    problem(http.get(f"{API}/users", headers=m.auth, params={"after": "!!"}), 400, "invalid_cursor")


def test_pages_link_both_ways_and_search(
    http: TestClient, runtime: Runtime, db: Session, machine: MachineFactory
) -> None:
    for i in range(7):
        create_user(runtime, db, username=f"warga{i}", display_name=f"Warga Nomor {i}")
    create_user(runtime, db, username="lain", display_name="Orang Lain")
    m = machine("admin:read")
    seen: list[str] = []
    r = http.get(f"{API}/users", headers=m.auth, params={"q": "warga", "limit": 3})
    pages = [r]
    while "next" in r.links:
        assert r.links["next"]["url"].count("q=warga") == 1
        r = http.get(r.links["next"]["url"], headers=m.auth)
        pages.append(r)
    for p in pages:
        assert p.status_code == 200 and p.headers["cache-control"] == "no-store"
        seen.extend(u["username"] for u in p.json()["items"])
    assert sorted(seen) == [f"warga{i}" for i in range(7)] and len(pages) == 3
    assert "prev" not in pages[0].links and "next" not in pages[-1].links
    back = http.get(pages[-1].links["prev"]["url"], headers=m.auth)
    assert back.json() == pages[1].json()
    back = http.get(back.links["prev"]["url"], headers=m.auth)
    assert back.json() == pages[0].json() and "prev" not in back.links


def test_etag_and_if_match(http: TestClient, db: Session, machine: MachineFactory) -> None:
    agencies(db)
    m = machine()
    r = http.get(f"{API}/agencies/DINKES", headers=m.auth)
    etag = r.headers["etag"]
    assert r.json()["name"] == "Dinas Kesehatan"
    # 428 without If-Match, 412 with a stale one, 200 with the current one
    problem(http.patch(f"{API}/agencies/DINKES", headers=m.auth, json={"name": "Dinkes"}), 428)
    ok = http.patch(
        f"{API}/agencies/DINKES",
        headers={**m.auth, "If-Match": etag},
        json={"name": "Dinas Kesehatan Kota"},
    )
    assert ok.status_code == 200 and ok.json()["version"] == r.json()["version"] + 1
    assert ok.headers["etag"] != etag
    problem(
        http.patch(
            f"{API}/agencies/DINKES",
            headers={**m.auth, "If-Match": etag},
            json={"name": "Lost update"},
        ),
        412,
        "admin.conflict",
    )
    assert (
        http.get(f"{API}/agencies/DINKES", headers=m.auth).json()["name"] == "Dinas Kesehatan Kota"
    )


def test_every_call_is_an_audit_event_with_the_client_as_actor(
    http: TestClient, db: Session, machine: MachineFactory
) -> None:
    agencies(db)
    m = machine()
    r = http.post(
        f"{API}/agencies", headers=m.auth, json={"code": "BAPPEDA", "name": "Badan Perencanaan"}
    )
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith("/agencies/BAPPEDA")
    http.get(f"{API}/agencies/NOPE", headers=m.auth)
    calls = db.scalars(
        select(AuditEvent).where(AuditEvent.event == "admin_api.called").order_by(AuditEvent.id)
    ).all()
    assert [
        (c.details["method"], c.details["path"], c.details["status"], c.outcome) for c in calls
    ] == [
        ("POST", f"{API}/agencies", 201, "success"),
        ("GET", f"{API}/agencies/NOPE", 404, "failure"),
    ]
    assert all(c.client_id == m.client.client_id and c.actor_id is None for c in calls)
    created = db.scalars(select(AuditEvent).where(AuditEvent.event == "agency.created")).one()
    assert created.client_id == m.client.client_id
    assert created.details["actor_client_id"] == m.client.client_id


def test_the_per_client_limit_of_token_applies(
    runtime: Runtime, db: Session, tmp_path: Any
) -> None:
    from sso.app import create_app
    from sso.web.app_runtime import build_app_runtime
    from tests.api.conftest import fetch_token
    from tests.factories import create_client

    limited = build_app_runtime(
        make_settings(runtime.settings.database_url, tmp_path, rate_limit_client_per_minute=3)
    )
    try:
        with TestClient(create_app(limited.settings, limited)) as http:
            client, secret = create_client(
                limited,
                db,
                name="Batch",
                redirect_uris=[],
                grant_types=["client_credentials"],
                scope="admin:read",
            )
            assert secret
            auth = {"Authorization": "Bearer " + fetch_token(http, client.client_id, secret)}
            codes = [http.get(f"{API}/agencies", headers=auth).status_code for _ in range(4)]
            assert codes[:3] == [200, 200, 200] and codes[3] == 429
            last = http.get(f"{API}/agencies", headers=auth)
            body = problem(last, 429, "too_many_requests")
            assert int(last.headers["retry-after"]) >= 1 and body["detail"]
    finally:
        limited.dispose()
