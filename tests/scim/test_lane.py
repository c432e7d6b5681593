"""The lean road for /scim/v2 (sso/scim/lane.py) keeps what the main stack gave a SCIM request:
the security headers, X-Request-ID, the request context in the audit trail, the access log
line, the request metrics and the per-IP rate limit."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.app import create_app
from sso.db.models import AuditEvent
from sso.runtime import Runtime
from sso.scim.lane import ScimLane
from tests.scim.conftest import Scim, staff_body
from tests.security.test_metrics import sample

# Headers every response gets from the request-context middleware, SCIM or not.
SECURITY = ("content-security-policy", "x-content-type-options", "x-frame-options",
            "referrer-policy")


def test_scim_goes_round_the_main_stack(app: Any) -> None:
    assert app.user_middleware[0].cls is ScimLane  # outermost: ahead of the five middlewares


def test_lean_road_keeps_headers_context_log_and_metrics(
    scim: Scim, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    main = scim.http.get("/healthz")  # JSON through the full stack
    assert main.status_code == 200
    caplog.set_level(logging.INFO, logger="sso.access")
    r = scim.post("/Users", staff_body(), h={"X-Request-ID": "simpeg-run-42"})
    assert r.status_code == 201, r.text

    # The same security headers as a JSON answer of the main stack, and the caller's id back.
    for name in SECURITY:
        assert r.headers.get(name), name
        assert r.headers[name] == main.headers[name], name
    assert r.headers["x-request-id"] == "simpeg-run-42"
    assert main.headers["x-request-id"] != "simpeg-run-42"

    # The request context reached the audit trail: request id and client IP.
    events = db.scalars(select(AuditEvent).where(AuditEvent.request_id == "simpeg-run-42")).all()
    assert events
    assert all(e.ip == "testclient" and e.client_id == scim.client.client_id for e in events)

    # One access line, without the query string.
    lines = [rec for rec in caplog.records
             if rec.name == "sso.access" and getattr(rec, "path", "") == "/scim/v2/Users"]
    assert [(rec.method, rec.status) for rec in lines] == [("POST", 201)]  # type: ignore[attr-defined]

    # Counted for /metrics by route template, never by id.
    user_id = r.json()["id"]
    assert scim.get(f"/Users/{user_id}?attributes=userName").status_code == 200
    text = scim.http.get("/metrics").text
    assert sample(text, "sso_http_requests_total", method="POST", route="/scim/v2/Users",
                  status="201") == 1
    assert sample(text, "sso_http_requests_total", method="GET",
                  route="/scim/v2/Users/{user_id}", status="200") == 1
    assert user_id not in text

    # An unknown SCIM path is a SCIM 404 (the catch-all), still with the headers.
    missing = scim.get("/Nothing")
    assert missing.status_code == 404
    assert missing.headers["x-content-type-options"] == "nosniff"
    assert missing.headers.get("x-request-id")


def test_lean_road_keeps_the_per_ip_rate_limit(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(update={"rate_limit_ip_per_minute": 3})
    http = TestClient(create_app(settings, runtime))  # no lifespan needed for a refusal
    statuses = [http.get("/scim/v2/ServiceProviderConfig").status_code for _ in range(8)]
    assert 429 in statuses
    refused = http.get("/scim/v2/Users")
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert refused.headers.get("x-request-id")
