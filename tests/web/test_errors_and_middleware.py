from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from sso.web.middleware import RequestContextMiddleware

JSON = {"Accept": "application/json"}
BODY_LIMIT = 4096  # as in conftest.build_app


def test_unexpected_exception_is_a_500_page_without_detail(
    browser: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="sso.web.errors"):
        response = browser.get("/boom")
    assert response.status_code == 500
    assert "Terjadi kesalahan" in response.text
    for leak in ("Traceback", "RuntimeError", "hunter2", "internal detail", 'File "'):
        assert leak not in response.text
    rid = response.headers["x-request-id"]
    assert rid in response.text  # shown as a reference
    assert response.headers["cache-control"] == "no-store"
    # ...and the traceback went to the log, with the request id.
    (record,) = [r for r in caplog.records if r.name == "sso.web.errors"]
    assert record.exc_info and record.request_id == rid  # type: ignore[attr-defined]


def test_unexpected_exception_json(client: TestClient) -> None:
    response = client.get("/boom", headers=JSON)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "server_error"
    assert body["error_description"].startswith("Sorry, something went wrong on our side.")
    assert set(body) == {"error", "error_description"}


def test_domain_error_page_and_json(browser: TestClient) -> None:
    page = browser.get("/missing-client")
    assert page.status_code == 404
    assert "Aplikasi yang meminta akses tidak dikenal." in page.text
    assert "abc" not in page.text  # the operator detail stays in the log
    data = browser.get("/missing-client", headers=JSON).json()
    assert data == {
        "error": "not_found",
        "error_description": "The application asking for access is not recognised.",
    }


def test_not_found_and_method_not_allowed(browser: TestClient, client: TestClient) -> None:
    page = browser.get("/nowhere", params={"lang": "en"})
    assert page.status_code == 404
    assert "The page you are looking for was not found." in page.text
    assert client.get("/nowhere").json()["error"] == "not_found"
    response = client.put("/login")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


def test_validation_error_is_invalid_request_without_echo(
    client: TestClient, browser: TestClient
) -> None:
    response = client.get("/items/not-a-number-secret")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "number" in body["error_description"]
    assert "not-a-number-secret" not in response.text
    page = browser.get("/items/xyz")
    assert page.status_code == 400
    assert "Permintaan tidak valid atau tidak lengkap." in page.text


def test_database_down_is_503_with_retry_after(client: TestClient, browser: TestClient) -> None:
    response = client.get("/db-down")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "temporarily_unavailable"
    assert "SELECT" not in response.text
    page = browser.get("/db-down")
    assert page.status_code == 503 and "Layanan sedang tidak tersedia" in page.text
    # A constraint violation is a bug, not an outage.
    assert client.get("/db-integrity").status_code == 500
    assert client.get("/maintenance").headers["retry-after"] == "5"


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    assert client.post("/echo", content=b"x" * BODY_LIMIT).json() == {"size": BODY_LIMIT}
    response = client.post("/echo", content=b"x" * (BODY_LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


def test_streamed_body_over_the_limit_is_413(client: TestClient, browser: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"x" * 1024

    response = client.post("/echo", content=chunks())
    assert response.status_code == 413
    page = browser.post("/echo", content=chunks())
    assert page.status_code == 413
    assert "Data yang dikirim terlalu besar." in page.text


def test_request_id_is_accepted_only_when_plain(client: TestClient) -> None:
    good = client.get("/context", headers={"X-Request-ID": "abc-123"})
    assert good.headers["x-request-id"] == "abc-123"
    assert good.json()["request_id"] == "abc-123"
    for bad in ("a" * 65, "abc 123", "abc\\u2028", "<script>"):
        response = client.get("/context", headers={"X-Request-ID": bad})
        assert response.headers["x-request-id"] != bad
        assert len(response.headers["x-request-id"]) == 32


def test_request_context_is_set_and_forwarded_for_is_ignored(client: TestClient) -> None:
    data = client.get(
        "/context", headers={"X-Forwarded-For": "203.0.113.9", "User-Agent": "Browser/1"}
    ).json()
    assert data["ip"] == "testclient" and data["ua"] == "Browser/1"


def _ip(middleware: RequestContextMiddleware, peer: str, xff: str | None) -> str | None:
    raw = [(b"x-forwarded-for", xff.encode())] if xff else []
    scope = {"type": "http", "client": (peer, 1234), "headers": raw}
    return middleware.client_ip(scope, Headers(scope=scope))


def test_forwarded_for_only_from_trusted_proxies() -> None:
    plain = RequestContextMiddleware(app=None)  # type: ignore[arg-type]
    assert _ip(plain, "10.0.0.2", "203.0.113.9") == "10.0.0.2"
    proxied = RequestContextMiddleware(app=None, trusted_proxies=["10.0.0.0/8", "::1"])  # type: ignore[arg-type]
    assert _ip(proxied, "10.0.0.2", "203.0.113.9") == "203.0.113.9"
    # A client-supplied first hop is ignored: the right-most untrusted address counts.
    assert _ip(proxied, "10.0.0.2", "1.2.3.4, 203.0.113.9, 10.0.0.7") == "203.0.113.9"
    assert _ip(proxied, "::1", "2001:db8::5") == "2001:db8::5"
    assert _ip(proxied, "10.0.0.2", "garbage") == "10.0.0.2"
    assert _ip(proxied, "10.0.0.2", None) == "10.0.0.2"
    assert _ip(proxied, "198.51.100.1", "203.0.113.9") == "198.51.100.1"


def test_access_line_has_no_query_string(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sso.access"):
        client.get("/login", params={"code": "secret-code", "state": "s"})
    (record,) = [r for r in caplog.records if r.name == "sso.access"]
    assert record.path == "/login"  # type: ignore[attr-defined]
    assert record.status == 200  # type: ignore[attr-defined]
    assert record.method == "GET"  # type: ignore[attr-defined]
    assert isinstance(record.duration_ms, float)  # type: ignore[attr-defined]
    assert "secret-code" not in record.getMessage()
