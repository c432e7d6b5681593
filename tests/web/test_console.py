"""Logging in to the provider's own pages through the built-in console client."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.runtime import Runtime
from sso.storage import clients as client_repo
from sso.web import console
from tests.factories import create_user
from tests.oidc.flow import open_console_page


def _add_pages(app: FastAPI) -> None:
    router = APIRouter()

    @router.get("/_test/me")
    def me(request: Request) -> Response:
        with request.app.state.runtime.sessions() as session:
            who = console.require_login(request, session)
            return PlainTextResponse(f"hello {who.user.username}")

    @router.get("/_test/sensitive")
    def sensitive(request: Request) -> Response:
        with request.app.state.runtime.sessions() as session:
            who = console.require_recent_login(request, session, seconds=60)
            return PlainTextResponse(f"recent {who.user.username}")

    app.include_router(router)


def test_a_page_needing_a_person_sends_them_through_login_and_back(
    app: FastAPI, http: TestClient, runtime: Runtime, db: Session
) -> None:
    _add_pages(app)
    create_user(runtime, db, username="budi")
    r = http.get("/_test/me?x=1", follow_redirects=False)
    assert r.status_code == 303
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["client_id"] == [console.CONSOLE_CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"]
    final = open_console_page(http, "/_test/me?x=1", "budi")
    assert final.status_code == 200
    assert final.text == "hello budi"
    # The built-in client is trusted (no consent page) and public.
    with runtime.sessions() as session:
        client = client_repo.get_by_client_id(session, console.CONSOLE_CLIENT_ID)
        assert client is not None and client.trusted and client.is_public


def test_a_sensitive_page_asks_for_a_fresh_login(
    app: FastAPI, http: TestClient, runtime: Runtime, db: Session
) -> None:
    from sso.core.clock import FrozenClock, set_clock

    _add_pages(app)
    create_user(runtime, db, username="budi")
    clock = FrozenClock()
    previous = set_clock(clock)
    try:
        assert open_console_page(http, "/_test/sensitive", "budi").text == "recent budi"
        clock.advance(120)
        r = http.get("/_test/sensitive", follow_redirects=False)
        assert r.status_code == 303
        assert parse_qs(urlsplit(r.headers["location"]).query)["max_age"] == ["60"]
        # The plain page still works with the older login.
        assert http.get("/_test/me").text == "hello budi"
    finally:
        set_clock(previous)


def test_the_callback_refuses_a_foreign_state_and_never_redirects_off_site(
    http: TestClient,
) -> None:
    r = http.get("/console/callback?state=abc&code=x", follow_redirects=False)
    assert r.status_code == 400
    http.cookies.set(console.STATE_COOKIE, "s1|//evil.example", path="/console/callback")
    r = http.get("/console/callback?state=s1&code=x", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account"
