"""RP-Initiated Logout 1.0 (/logout) and Back-Channel Logout 1.0, over HTTP.

People log in through the real flow (/authorize → login form → consent → /token) so the ID
token, its ``sid`` and the session's client list are the ones production makes. Back-channel
logout tokens are received by a real HTTP server in this process and checked as a relying
party would (Back-Channel Logout 1.0 §2.6).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sso.accounts import sessions as login_sessions
from sso.core.clock import FrozenClock, now, set_clock
from sso.db.models import AuditEvent, BackchannelLogoutDelivery, Client, Grant, LoginSession, User
from sso.oidc.backchannel import (
    BACKCHANNEL_EVENT,
    deliver_due,
    start_delivery_worker,
    stop_background_deliveries,
)
from sso.oidc.session_end import end_everything_for_user
from sso.storage import grants as grant_repo
from sso.storage import logout as delivery_repo
from sso.storage import sessions as session_repo
from sso.web.app_runtime import AppRuntime
from tests.factories import create_client, create_user
from tests.oidc.flow import authorize_url, csrf_of, login, query_of

ISSUER = "http://testserver"
RP = "https://rp.example.id/callback"
AFTER_LOGOUT = "https://rp.example.id/logged-out"
# (a web client: a private-use scheme like com.example.app:/ is for native apps only)
ELSEWHERE = "https://rp.example.id/logged-out-elsewhere"


# ---------------------------------------------------------------------------- the RP's receiver


class Receiver:
    """A relying party's back-channel logout endpoint: records every POST body.

    ``statuses`` are answered in turn (the last one repeats); while ``gate`` is clear the
    handler holds the request open, like a hanging RP.
    """

    def __init__(self) -> None:
        self.bodies: list[dict[str, list[str]]] = []
        self.content_types: list[str] = []
        self.statuses: list[int] = [200]
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                receiver.bodies.append(parse_qs(body))
                receiver.arrived.set()
                receiver.gate.wait(10)
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def tokens(self) -> list[str]:
        return [body["logout_token"][0] for body in self.bodies]

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _background_sends_finish(runtime: AppRuntime, receiver: Receiver) -> Iterator[None]:
    """Sends started by a test end (and are recorded) before its database and RP go away."""
    yield
    receiver.gate.set()
    stop_background_deliveries(runtime, wait=True)


@pytest.fixture(autouse=True)
def _insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def rp(runtime: AppRuntime, db: Session, receiver: Receiver) -> tuple[Client, str]:
    client, secret = create_client(
        runtime,
        db,
        redirect_uris=[RP],
        post_logout_redirect_uris=[AFTER_LOGOUT, ELSEWHERE],
        backchannel_logout_uri=receiver.url,
    )
    assert secret
    return client, secret


@pytest.fixture
def siti(runtime: AppRuntime, db: Session) -> User:
    return create_user(runtime, db, username="siti")


def sign_in(
    http: TestClient, rp: tuple[Client, str], scope: str = "openid profile"
) -> dict[str, Any]:
    """Log in through the real flow and redeem the code; returns the token response."""
    client, secret = rp
    req = authorize_url(client.client_id, RP, scope)
    location = login(http, req, "siti")
    code = query_of(location)["code"]
    r = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": req.verifier,
        },
        auth=(client.client_id, secret),
    )
    assert r.status_code == 200, r.text
    tokens: dict[str, Any] = r.json()
    return tokens


@pytest.fixture
def jwks(http: TestClient) -> KeySet:
    """Our published keys, fetched as a relying party does."""
    return KeySet.import_key_set(http.get("/jwks.json").json())


def claims_of(id_token: str, jwks: KeySet) -> dict[str, Any]:
    return dict(jwt.decode(id_token, jwks).claims)


def fresh(db: Session) -> Session:
    """End the test's read transaction: on SQLite it would keep seeing its first snapshot."""
    db.commit()
    db.expire_all()
    return db


def login_row(db: Session, sid: str) -> LoginSession:
    fresh(db)
    row = db.get(LoginSession, sid, populate_existing=True)
    assert row is not None
    return row


def deliveries(db: Session, sid: str) -> list[BackchannelLogoutDelivery]:
    fresh(db)
    return list(
        db.scalars(
            select(BackchannelLogoutDelivery)
            .where(BackchannelLogoutDelivery.session_id == sid)
            .order_by(BackchannelLogoutDelivery.created_at)
        )
    )


def events(db: Session, name: str) -> list[AuditEvent]:
    fresh(db)
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def prompt_none(http: TestClient, client: Client) -> dict[str, str]:
    r = http.get(
        authorize_url(client.client_id, RP, "openid profile", prompt="none").url,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return query_of(r.headers["location"])


def verify_logout_token(
    token: str, client: Client, jwks: KeySet, *, sub: str, sid: str | None
) -> dict[str, Any]:
    """What a relying party checks (Back-Channel Logout 1.0 §2.6)."""
    decoded = jwt.decode(token, jwks, algorithms=["RS256", "ES256"])
    assert decoded.header["typ"] == "logout+jwt"
    # The client's own choice, else the default (the tests run with RS256).
    assert decoded.header["alg"] == (client.id_token_signed_response_alg or "RS256")
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": client.client_id},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(decoded.claims)
    claims = dict(decoded.claims)
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["sub"] == sub
    assert claims.get("sid") == sid
    assert "nonce" not in claims  # §2.4: prohibited, so it can't pass as an ID token
    assert 0 < claims["exp"] - claims["iat"] <= 300
    return claims


# ---------------------------------------------------------------------------- RP-Initiated


def test_logout_with_hint_redirects_with_state_and_notifies_the_rp(
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    db: Session,
    receiver: Receiver,
    jwks: KeySet,
) -> None:
    client = rp[0]
    tokens = sign_in(http, rp)
    claims = claims_of(tokens["id_token"], jwks)
    sid = claims["sid"]
    assert prompt_none(http, client).get("code")  # SSO works before

    query = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": AFTER_LOGOUT,
        "state": "af0ifjsldkj",
    }
    r = http.get("/logout?" + urlencode(query), follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == AFTER_LOGOUT + "?state=af0ifjsldkj"
    assert r.headers["cache-control"] == "no-store"
    cleared = r.headers["set-cookie"]
    assert "sso_session=" in cleared and ("Max-Age=0" in cleared or "expires=" in cleared.lower())

    assert login_row(db, sid).ended_at is not None
    assert prompt_none(http, client)["error"] == "login_required"
    logout_events = events(db, "user.logout")
    assert [(e.target_id, e.client_id, e.actor_id) for e in logout_events] == [
        (sid, client.client_id, siti.id)
    ]
    assert events(db, "session.ended")[0].details["reason"] == "logout"
    # The grant made in the session is revoked: its access token is no longer active.
    fresh(db)
    assert all(g.revoked_at is not None for g in db.scalars(select(Grant)))
    r = http.post(
        "/introspect", data={"token": tokens["access_token"]}, auth=(client.client_id, rp[1])
    )
    assert r.status_code == 200 and r.json() == {"active": False}

    # Back-channel: the RP gets one valid logout token for this session, sent in the background.
    wait_for(lambda: [bool(d.delivered_at) for d in deliveries(db, sid)] == [True], "delivery")
    assert len(receiver.tokens()) == 1
    assert receiver.content_types[0] == "application/x-www-form-urlencoded"
    verify_logout_token(receiver.tokens()[0], client, jwks, sub=siti.id, sid=sid)
    assert deliveries(db, sid)[0].attempts == 1


def test_post_logout_redirect_uri_must_be_registered_exactly(
    http: TestClient, rp: tuple[Client, str], siti: User, db: Session, jwks: KeySet
) -> None:
    tokens = sign_in(http, rp)
    sid = claims_of(tokens["id_token"], jwks)["sid"]
    for uri in (
        "https://evil.example/logged-out",
        AFTER_LOGOUT + "/",
        AFTER_LOGOUT + "?x=1",
        AFTER_LOGOUT.upper(),
        "https://rp.example.id/logged-out/../logged-out",
        RP,  # a redirect_uri is not a post_logout_redirect_uri
    ):
        query = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": uri}
        r = http.get("/logout?" + urlencode(query), follow_redirects=False)
        assert r.status_code == 400, uri
        assert "location" not in r.headers
        assert "text/html" in r.headers["content-type"]
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    # No client identified: nothing to match the URI against.
    r = http.get(
        "/logout?" + urlencode({"post_logout_redirect_uri": AFTER_LOGOUT}), follow_redirects=False
    )
    assert r.status_code == 400 and "location" not in r.headers
    assert login_row(db, sid).ended_at is None  # nothing happened


def test_client_id_must_match_the_hint(
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    runtime: AppRuntime,
    db: Session,
    jwks: KeySet,
) -> None:
    other, _ = create_client(
        runtime,
        db,
        name="Event",
        redirect_uris=["https://event.example.id/cb"],
        post_logout_redirect_uris=["https://event.example.id/bye"],
    )
    tokens = sign_in(http, rp)
    sid = claims_of(tokens["id_token"], jwks)["sid"]
    query = {
        "id_token_hint": tokens["id_token"],
        "client_id": other.client_id,
        "post_logout_redirect_uri": "https://event.example.id/bye",
    }
    r = http.get("/logout?" + urlencode(query), follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers
    assert login_row(db, sid).ended_at is None
    # The matching client_id is fine.
    query = {"id_token_hint": tokens["id_token"], "client_id": rp[0].client_id}
    r = http.get("/logout?" + urlencode(query), follow_redirects=False)
    assert r.status_code == 200 and 'name="confirm"' not in r.text
    assert login_row(db, sid).ended_at is not None


@pytest.mark.parametrize(
    "hint",
    [
        "not-a-jwt",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",  # alg none
        "a" * 20000,
    ],
)
def test_bogus_hint_is_an_error_page(http: TestClient, rp: tuple[Client, str], hint: str) -> None:
    r = http.get("/logout?" + urlencode({"id_token_hint": hint}), follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers


def test_an_access_token_is_not_an_id_token_hint(
    http: TestClient, rp: tuple[Client, str], siti: User
) -> None:
    tokens = sign_in(http, rp)
    r = http.get(
        "/logout?" + urlencode({"id_token_hint": tokens["access_token"]}), follow_redirects=False
    )
    assert r.status_code == 400


def test_malformed_requests_are_pages(http: TestClient, rp: tuple[Client, str]) -> None:
    cases = [
        "client_id=a&client_id=b",
        "state=" + "x" * 5000,
        "client_id=nope",
        "client_id=" + "x" * 100,
        "ui_locales=%ff%fe",
    ]
    for query in cases:
        r = http.get("/logout?" + query, follow_redirects=False)
        assert r.status_code in (200, 400), query
        assert "location" not in r.headers
    r = http.post(
        "/logout",
        content=b"\xff\xfe=\xff",
        follow_redirects=False,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code in (200, 400)


def test_without_hint_the_person_confirms(
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    db: Session,
    receiver: Receiver,
    jwks: KeySet,
) -> None:
    client = rp[0]
    sid = claims_of(sign_in(http, rp)["id_token"], jwks)["sid"]
    query = {
        "client_id": client.client_id,
        "post_logout_redirect_uri": AFTER_LOGOUT,
        "state": "s1",
        "ui_locales": "en",
    }
    page = http.get("/logout?" + urlencode(query))
    assert page.status_code == 200
    assert "Do you want to sign out" in page.text and client.name in page.text
    assert 'action="/logout/confirm"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert login_row(db, sid).ended_at is None

    form = {
        "client_id": client.client_id,
        "post_logout_redirect_uri": AFTER_LOGOUT,
        "state": "s1",
        "confirm": "yes",
    }
    # Without the CSRF token, or from another site: refused, still logged in.
    r = http.post("/logout/confirm", data=form, follow_redirects=False)
    assert r.status_code == 403
    r = http.post(
        "/logout/confirm",
        data={**form, "csrf_token": csrf_of(page.text)},
        headers={"Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert login_row(db, sid).ended_at is None

    # A form that was tampered with is validated again.
    r = http.post(
        "/logout/confirm",
        data={
            **form,
            "csrf_token": csrf_of(page.text),
            "post_logout_redirect_uri": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 400 and "location" not in r.headers

    r = http.post(
        "/logout/confirm", data={**form, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == AFTER_LOGOUT + "?state=s1"
    assert login_row(db, sid).ended_at is not None
    assert prompt_none(http, client)["error"] == "login_required"
    wait_for(lambda: len(receiver.bodies) == 1, "back-channel logout")


def test_declining_keeps_the_session(
    http: TestClient, rp: tuple[Client, str], siti: User, db: Session, jwks: KeySet
) -> None:
    sid = claims_of(sign_in(http, rp)["id_token"], jwks)["sid"]
    page = http.get("/logout")
    assert 'lang="id"' in page.text  # Bahasa Indonesia by default
    r = http.post(
        "/logout/confirm",
        data={"csrf_token": csrf_of(page.text), "confirm": "no"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert login_row(db, sid).ended_at is None
    assert prompt_none(http, rp[0]).get("code")


def test_hint_of_another_person_asks_first(
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    runtime: AppRuntime,
    db: Session,
    jwks: KeySet,
) -> None:
    sid = claims_of(sign_in(http, rp)["id_token"], jwks)["sid"]
    t = int(now().timestamp())
    hint = runtime.keys.sign_jwt(
        {
            "iss": ISSUER,
            "sub": "someone-else",
            "aud": rp[0].client_id,
            "iat": t,
            "exp": t + 60,
            "sid": "another-session",
        },
        "RS256",
    )
    r = http.get("/logout?" + urlencode({"id_token_hint": hint}), follow_redirects=False)
    assert r.status_code == 200 and 'name="confirm"' in r.text
    assert login_row(db, sid).ended_at is None


def test_expired_hint_still_logs_out(
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    runtime: AppRuntime,
    db: Session,
    jwks: KeySet,
) -> None:
    sid = claims_of(sign_in(http, rp)["id_token"], jwks)["sid"]
    t = int(now().timestamp()) - 7200
    hint = runtime.keys.sign_jwt(
        {
            "iss": ISSUER,
            "sub": siti.id,
            "aud": rp[0].client_id,
            "iat": t,
            "exp": t + 60,
            "sid": sid,
        },
        "RS256",
    )
    r = http.get(
        "/logout?" + urlencode({"id_token_hint": hint, "ui_locales": "en"}), follow_redirects=False
    )
    assert r.status_code == 200 and "You have signed out" in r.text
    assert login_row(db, sid).ended_at is not None


def test_without_a_session_it_just_redirects(http: TestClient, rp: tuple[Client, str]) -> None:
    query = {"client_id": rp[0].client_id, "post_logout_redirect_uri": AFTER_LOGOUT, "state": "z"}
    r = http.get("/logout?" + urlencode(query), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == AFTER_LOGOUT + "?state=z"
    r = http.post(
        "/logout",
        data={"client_id": rp[0].client_id, "post_logout_redirect_uri": ELSEWHERE},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == ELSEWHERE
    r = http.get("/logout", follow_redirects=False)
    assert r.status_code == 200 and 'lang="id"' in r.text


def test_offline_access_grant_survives_logout(
    http: TestClient, rp: tuple[Client, str], siti: User, runtime: AppRuntime
) -> None:
    tokens = sign_in(http, rp, "openid profile offline_access")
    assert tokens.get("refresh_token")
    r = http.get(
        "/logout?" + urlencode({"id_token_hint": tokens["id_token"]}), follow_redirects=False
    )
    assert r.status_code == 200
    # The back-channel send ends first: on SQLite its commit landing between the token
    # endpoint's read and write would make that request fail (SQLite's limit, not logout's).
    stop_background_deliveries(runtime, wait=True)
    r = http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(rp[0].client_id, rp[1]),
    )
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------------------- Back-Channel


def test_a_hanging_rp_never_holds_up_the_logout(
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    db: Session,
    receiver: Receiver,
    jwks: KeySet,
) -> None:
    tokens = sign_in(http, rp)
    sid = claims_of(tokens["id_token"], jwks)["sid"]
    receiver.gate.clear()  # the RP takes the request and does not answer
    r = http.get(
        "/logout?" + urlencode({"id_token_hint": tokens["id_token"]}), follow_redirects=False
    )
    assert r.status_code == 200
    # The logout is answered while the RP still holds the request.
    assert receiver.arrived.wait(10)
    [delivery] = deliveries(db, sid)
    assert delivery.delivered_at is None and delivery.failed_at is None
    assert delivery.attempts == 1
    receiver.gate.set()
    wait_for(lambda: deliveries(db, sid)[0].delivered_at is not None, "delivery")


def test_failed_deliveries_are_retried_then_given_up(
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    runtime: AppRuntime,
    db: Session,
    receiver: Receiver,
    jwks: KeySet,
) -> None:
    runtime.settings.backchannel_logout_max_attempts = 3
    tokens = sign_in(http, rp)
    sid = claims_of(tokens["id_token"], jwks)["sid"]
    receiver.statuses = [500, 200]
    http.get("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))
    wait_for(lambda: deliveries(db, sid)[0].last_error == "HTTP 500", "first attempt")
    [delivery] = deliveries(db, sid)
    assert delivery.delivered_at is None and delivery.failed_at is None
    assert delivery.next_attempt_at > now()  # backing off
    assert deliver_due(runtime) == []  # not due yet

    def make_due() -> None:
        fresh(db).execute(update(BackchannelLogoutDelivery).values(next_attempt_at=now()))
        db.commit()

    make_due()
    deliver_due(runtime)
    wait_for(lambda: deliveries(db, sid)[0].delivered_at is not None, "retry")
    assert deliveries(db, sid)[0].attempts == 2
    assert len(receiver.tokens()) == 2
    first, second = (
        verify_logout_token(t, rp[0], jwks, sub=siti.id, sid=sid) for t in receiver.tokens()
    )
    assert first["jti"] != second["jti"]  # signed afresh for every attempt

    # An RP that keeps failing is given up after max attempts, audited.
    sign_in(http, rp)
    tokens = sign_in(http, rp)
    sid = claims_of(tokens["id_token"], jwks)["sid"]
    receiver.statuses = [503]
    http.get("/logout?" + urlencode({"id_token_hint": tokens["id_token"]}))
    wait_for(lambda: deliveries(db, sid)[0].last_error == "HTTP 503", "first attempt")
    for _ in range(2):
        make_due()
        deliver_due(runtime)
    wait_for(lambda: deliveries(db, sid)[0].failed_at is not None, "give up")
    assert deliveries(db, sid)[0].attempts == 3
    [failed] = events(db, "backchannel_logout.failed")
    assert failed.client_id == rp[0].client_id and failed.outcome == "failure"
    assert failed.details["attempts"] == 3 and "logout_token" not in json.dumps(failed.details)


def test_a_dead_uri_is_retried(
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    runtime: AppRuntime,
    db: Session,
    jwks: KeySet,
) -> None:
    dead = Receiver()
    dead.close()  # nothing listens there any more: connection refused
    db.execute(update(Client).values(backchannel_logout_uri=dead.url))
    db.commit()
    tokens = sign_in(http, rp)
    sid = claims_of(tokens["id_token"], jwks)["sid"]
    r = http.get(
        "/logout?" + urlencode({"id_token_hint": tokens["id_token"]}), follow_redirects=False
    )
    assert r.status_code == 200
    wait_for(lambda: bool(deliveries(db, sid)[0].last_error), "first attempt")
    [delivery] = deliveries(db, sid)
    assert delivery.failed_at is None and delivery.delivered_at is None
    assert "ConnectError" in (delivery.last_error or "")


# ---------------------------------------------------------------------------- outbox and admin


def test_claims_are_exclusive(runtime: AppRuntime, db: Session, siti: User) -> None:
    for _ in range(30):
        delivery_repo.enqueue(db, client_id="c", user_id=siti.id, session_id=None)
    db.commit()
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(5)

    def claim() -> None:
        with runtime.sessions() as s:
            barrier.wait()
            got = delivery_repo.claim_due(s, lease=timedelta(minutes=1), limit=10)
            s.commit()
        with lock:
            claimed.extend(d.id for d in got)

    threads = [threading.Thread(target=claim) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with runtime.sessions() as s:
        rest = delivery_repo.claim_due(s, lease=timedelta(minutes=1), limit=100)
        s.commit()
    everything = claimed + [d.id for d in rest]
    assert len(everything) == len(set(everything)) == 30
    # Claimed rows are leased: nobody gets them again until the lease runs out.
    with runtime.sessions() as s:
        assert delivery_repo.claim_due(s, lease=timedelta(minutes=1)) == []
        previous = set_clock(FrozenClock(now() + timedelta(minutes=2)))
        try:
            again = delivery_repo.claim_due(s, lease=timedelta(minutes=1), limit=100)
        finally:
            set_clock(previous)
        s.rollback()
    assert len(again) == 30 and {d.attempts for d in again} == {2}


def test_end_everything_for_user(
    runtime: AppRuntime,
    db: Session,
    siti: User,
    rp: tuple[Client, str],
    receiver: Receiver,
    jwks: KeySet,
) -> None:
    client = rp[0]
    loose, _ = create_client(
        runtime,
        db,
        name="Data portal",
        redirect_uris=[RP],
        backchannel_logout_uri=receiver.url,
        backchannel_logout_session_required=False,
    )
    sids = []
    for _ in range(2):
        new = login_sessions.start(db, runtime.settings, siti, amr=["pwd"])
        session_repo.add_client(db, new.row.id, client.client_id)
        grant_repo.create_grant(
            db,
            client_id=client.client_id,
            user_id=siti.id,
            scope="openid",
            login_session_id=new.row.id,
        )
        sids.append(new.row.id)
    # An offline grant whose session is long gone, at a client that does not need a sid.
    grant_repo.create_grant(
        db,
        client_id=loose.client_id,
        user_id=siti.id,
        scope="openid offline_access",
        login_session_id=None,
    )
    db.commit()

    end_everything_for_user(db, siti.id, reason="user_disabled")
    db.commit()

    fresh(db)
    assert all(login_row(db, sid).ended_at is not None for sid in sids)
    assert all(g.revoked_at is not None for g in db.scalars(select(Grant)))
    assert len(events(db, "grant.revoked")) == 3
    rows = list(
        db.scalars(
            select(BackchannelLogoutDelivery)
            .where(BackchannelLogoutDelivery.user_id == siti.id)
            .order_by(BackchannelLogoutDelivery.created_at)
        )
    )
    assert sorted((r.client_id, r.session_id) for r in rows) == sorted(
        [(client.client_id, sids[0]), (client.client_id, sids[1]), (loose.client_id, None)]
    )
    # Nobody kicks these off (the CLI just commits): a running server's worker sends them.
    stop_worker = start_delivery_worker(runtime, interval=0.05)
    try:
        wait_for(
            lambda: all(
                r.delivered_at for r in fresh(db).scalars(select(BackchannelLogoutDelivery))
            ),
            "the worker to deliver",
        )
    finally:
        stop_worker()
    assert len(receiver.bodies) == 3
    got = {}
    for token in receiver.tokens():
        claims = jwt.decode(token, jwks).claims
        target = client if claims["aud"] == client.client_id else loose
        verify_logout_token(token, target, jwks, sub=siti.id, sid=claims.get("sid"))
        got[(claims["aud"], claims.get("sid"))] = True
    assert set(got) == {
        (client.client_id, sids[0]),
        (client.client_id, sids[1]),
        (loose.client_id, None),
    }


def test_hint_is_checked_in_the_request_s_own_connection(
    http: TestClient, rp: tuple[Client, str], siti: User, runtime: AppRuntime
) -> None:
    """Issue 14 item 1: the key cache must not open a second session beside the request's."""
    from tests.oidc.connections import one_connection_per_thread

    tokens = sign_in(http, rp)
    runtime.keys.cache.invalidate()  # the cache revalidates during the request
    with one_connection_per_thread(runtime.engine) as watch:
        r = http.get(
            "/logout?" + urlencode({"id_token_hint": tokens["id_token"]}), follow_redirects=False
        )
    assert watch.most == 1
    assert r.status_code == 200


def test_a_whole_journey_never_holds_two_connections_in_one_thread(
    http: TestClient, rp: tuple[Client, str], siti: User, runtime: AppRuntime
) -> None:
    """Issue 14 item 1, every path at once: login, consent, code, tokens, userinfo, refresh,
    introspection, revocation and logout, each with the key cache due for revalidation."""
    from tests.oidc.connections import one_connection_per_thread

    client, secret = rp
    cache = runtime.keys.cache
    cache.refresh_interval = 0  # revalidate on every use: any path without a session shows
    with one_connection_per_thread(runtime.engine) as watch:
        tokens = sign_in(http, rp, "openid profile offline_access")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert http.get("/userinfo", headers=bearer).status_code == 200
        r = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(client.client_id, secret),
        )
        assert r.status_code == 200, r.text
        fresh = r.json()
        r = http.post(
            "/introspect", data={"token": fresh["access_token"]}, auth=(client.client_id, secret)
        )
        assert r.json()["active"] is True
        r = http.post(
            "/revoke", data={"token": fresh["refresh_token"]}, auth=(client.client_id, secret)
        )
        assert r.status_code == 200
        r = http.get(
            "/logout?" + urlencode({"id_token_hint": fresh["id_token"]}), follow_redirects=False
        )
        assert r.status_code == 200
    assert watch.most == 1
