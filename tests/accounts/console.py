"""Driving the account console (/account) over HTTP, as a person's browser would, and a
relying party's back-channel logout endpoint to watch what the console's actions send."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent
from tests.factories import PASSWORD
from tests.oidc.flow import authorize_url, csrf_of, login, open_console_page, query_of

RP = "https://rp.example.id/callback"


def text_of(response: httpx2.Response) -> str:
    return html.unescape(response.text)


def console(
    http: TestClient, path: str, username: str, password: str = PASSWORD
) -> httpx2.Response:
    """GET a console page, logging in (again) when the console asks for it."""
    return open_console_page(http, path, username, password)


def post(
    http: TestClient, form_page: str, action: str, data: dict[str, str], **kwargs: Any
) -> httpx2.Response:
    """Submit a console form: the CSRF token comes from ``form_page`` (already logged in)."""
    page = http.get(form_page, follow_redirects=False)
    assert page.status_code == 200, (page.status_code, page.headers.get("location"))
    response: httpx2.Response = http.post(
        action, data={**data, "csrf_token": csrf_of(page.text)}, follow_redirects=False, **kwargs
    )
    return response


def redirected_to_login(response: httpx2.Response) -> dict[str, str]:
    """The /authorize query of a "log in (again)" redirect (asserts it is one)."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert urlsplit(location).path == "/authorize", location
    return query_of(location)


def events(db: Session, name: str) -> list[AuditEvent]:
    db.rollback()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def sign_in_to_rp(
    http: TestClient,
    client_id: str,
    secret: str,
    username: str,
    scope: str = "openid profile email offline_access",
    password: str = PASSWORD,
) -> dict[str, Any]:
    """The relying party's login through the real flow; returns its token response."""
    req = authorize_url(client_id, RP, scope)
    location = login(http, req, username, password)
    code = query_of(location)["code"]
    r = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": req.verifier,
        },
        auth=(client_id, secret),
    )
    assert r.status_code == 200, r.text
    tokens: dict[str, Any] = r.json()
    return tokens


def refresh(http: TestClient, client_id: str, secret: str, token: str) -> httpx2.Response:
    response: httpx2.Response = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(client_id, secret),
    )
    return response


class Receiver:
    """A relying party's back-channel logout endpoint that records the logout tokens."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = parse_qs(self.rfile.read(length).decode())
                with receiver._lock:
                    receiver.tokens.extend(body.get("logout_token", []))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 15.0) -> list[str]:
        wait_for(lambda: len(self.tokens) >= count, f"{count} logout token(s)", timeout)
        with self._lock:
            return list(self.tokens)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
