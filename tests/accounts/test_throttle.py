"""Guessing protection over HTTP (issue 4, "Guessing and abuse"): locks per account+IP and per
account, never across a shared IP for people without failures of their own, at most
``threshold`` password checks under 50 parallel guesses, 429 at /token; with database counters
and (when ``SSO_TEST_REDIS_URL`` is set) Redis counters, and Redis down degrading to the
database."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.accounts.throttle import Throttle
from sso.accounts.throttle_redis import connect
from sso.core.clock import FrozenClock
from sso.db.models import ThrottleCounter
from sso.storage import gc
from sso.web.app_runtime import AppRuntime
from tests.factories import PASSWORD, create_client, create_user
from tests.oidc.flow import authorize_url, csrf_of

REDIS_URL = os.environ.get("SSO_TEST_REDIS_URL")
DOWN_REDIS_URL = "redis://127.0.0.1:1/0"


@pytest.fixture(params=["db", "redis", "redis_down"])
def counters(request: pytest.FixtureRequest, runtime: AppRuntime) -> Iterator[str]:
    """Install the throttle of one backend in the runtime (login pages) and at /token."""
    kind: str = request.param
    redis = None
    if kind == "redis":
        if not REDIS_URL:
            pytest.skip("SSO_TEST_REDIS_URL is not set")
        # A prefix of this test's own: test processes share the Redis database.
        redis = connect(REDIS_URL, prefix=f"test:{secrets.token_hex(8)}:")
    elif kind == "redis_down":
        redis = connect(DOWN_REDIS_URL)
    guard = Throttle(runtime.settings, runtime.sessions, redis)
    runtime.throttle = guard
    runtime.token_server.throttle = guard
    yield kind
    if kind == "redis" and redis is not None:
        stale = list(redis.client.scan_iter(match=redis.prefix + "*"))
        if stale:
            redis.client.delete(*stale)


@pytest.fixture
def rp(runtime: AppRuntime, db: Session) -> str:
    client, _secret = create_client(runtime, db)
    return client.client_id


@pytest.fixture
def siti(runtime: AppRuntime, db: Session) -> str:
    return create_user(runtime, db, username="siti").id


def browser(app: FastAPI, ip: str) -> TestClient:
    return TestClient(app, base_url="http://testserver", client=(ip, 50000))


class LoginPage:
    def __init__(self, http: TestClient, client_id: str) -> None:
        self.http = http
        r = http.get(authorize_url(client_id).url, follow_redirects=False)
        assert r.status_code == 303, r.text
        self.path = r.headers["location"]
        self.csrf = csrf_of(http.get(self.path).text)

    def submit(self, username: str, password: str, lang: str = "en") -> httpx.Response:
        response: httpx.Response = self.http.post(
            f"{self.path}/login?lang={lang}",
            data={"username": username, "password": password, "csrf_token": self.csrf},
            follow_redirects=False,
        )
        return response


def fail(page: LoginPage, username: str, times: int) -> None:
    for _ in range(times):
        assert page.submit(username, "wrong password!").status_code == 401


def test_account_ip_lock_message_and_expiry(
    counters: str, app: FastAPI, http: TestClient, rp: str, siti: str, frozen_clock: FrozenClock
) -> None:
    page = LoginPage(http, rp)
    fail(page, "siti", 5)
    locked = page.submit("siti", PASSWORD)  # the right password, but the account is locked here
    assert locked.status_code == 429
    assert "please wait 1 minute" in locked.text
    assert int(locked.headers["Retry-After"]) == 60
    id_page = page.submit("siti@example.id", PASSWORD, lang="id")  # same account by its email
    assert id_page.status_code == 429
    assert "silakan tunggu 1 menit" in id_page.text
    frozen_clock.advance(61)
    assert page.submit("siti", PASSWORD).status_code == 303


def test_lock_grows_and_is_never_permanent(
    counters: str, http: TestClient, rp: str, siti: str, frozen_clock: FrozenClock
) -> None:
    page = LoginPage(http, rp)
    fail(page, "siti", 5)
    frozen_clock.advance(61)
    fail(page, "siti", 5)
    second = page.submit("siti", PASSWORD)
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) == 120
    assert "wait 2 minute" in second.text
    frozen_clock.advance(121)
    assert page.submit("siti", PASSWORD).status_code == 303


def test_unknown_account_gets_the_same_answers(
    counters: str, http: TestClient, rp: str, frozen_clock: FrozenClock
) -> None:
    page = LoginPage(http, rp)
    fail(page, "nobody", 5)
    locked = page.submit("nobody", "anything at all")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) == 60
    assert "please wait 1 minute" in locked.text


def test_second_ip_not_locked_until_account_threshold(
    counters: str, app: FastAPI, http: TestClient, rp: str, siti: str, frozen_clock: FrozenClock
) -> None:
    fail(LoginPage(http, rp), "siti", 5)
    with browser(app, "203.0.113.7") as other:
        page = LoginPage(other, rp)
        assert page.submit("siti", PASSWORD).status_code == 303  # the owner elsewhere: fine
    with browser(app, "198.51.100.1") as attacker, browser(app, "198.51.100.2") as attacker2:
        fail(LoginPage(attacker, rp), "siti", 5)
        fail(LoginPage(attacker2, rp), "siti", 5)  # 10 for the account: now locked everywhere
    with browser(app, "203.0.113.8") as third:
        assert LoginPage(third, rp).submit("siti", PASSWORD).status_code == 429


def test_many_people_behind_one_ip_do_not_lock_each_other(
    counters: str, runtime: AppRuntime, db: Session, http: TestClient, rp: str, siti: str
) -> None:
    runtime.settings.login_max_failures_ip = 10  # a small "festival" to keep the test quick
    page = LoginPage(http, rp)
    for i in range(12):
        fail(page, f"warga{i}", 1)
    assert page.submit("siti", PASSWORD).status_code == 303  # no failures of her own
    # Someone who already failed from this (now locked) IP waits.
    page = LoginPage(http, rp)
    assert page.submit("warga0", "again wrong").status_code == 429


def test_parallel_guesses_run_at_most_threshold_password_checks(
    counters: str, runtime: AppRuntime, http: TestClient, rp: str, siti: str
) -> None:
    hasher = runtime.password_hasher
    original = hasher.verify
    checks = 0
    lock = threading.Lock()

    def counting(password: str, password_hash: str) -> tuple[bool, str | None]:
        nonlocal checks
        with lock:
            checks += 1
        return original(password, password_hash)

    hasher.verify = counting  # type: ignore[method-assign]
    page = LoginPage(http, rp)
    with ThreadPoolExecutor(max_workers=25) as pool:
        codes = list(pool.map(lambda _: page.submit("siti", "guess!").status_code, range(50)))
    assert checks <= runtime.settings.login_max_failures_account_ip
    assert codes.count(401) == checks
    assert codes.count(429) == 50 - checks


def _client_credentials(http: TestClient, client_id: str, secret: str) -> httpx.Response:
    response: httpx.Response = http.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    return response


def test_client_secret_guessing_gets_429(
    counters: str, runtime: AppRuntime, db: Session, http: TestClient, frozen_clock: FrozenClock
) -> None:
    spec: dict[str, Any] = {
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_post",
    }
    target, secret = create_client(runtime, db, name="Target", scope="", **spec)
    other, other_secret = create_client(runtime, db, name="Other", scope="", **spec)
    assert secret and other_secret
    assert _client_credentials(http, target.client_id, secret).status_code == 200
    for _ in range(10):
        assert _client_credentials(http, target.client_id, "guess").status_code == 401
    refused = _client_credentials(http, target.client_id, secret)
    assert refused.status_code == 429
    assert refused.json()["error"] == "invalid_client"
    assert int(refused.headers["Retry-After"]) == 60
    assert _client_credentials(http, other.client_id, other_secret).status_code == 200
    frozen_clock.advance(61)
    assert _client_credentials(http, target.client_id, secret).status_code == 200


def test_forgot_password_requests_are_limited_per_address(
    counters: str, http: TestClient, siti: str
) -> None:
    from tests.accounts.helpers import forgot

    for _ in range(5):
        assert forgot(http, "siti@example.id", lang="en").status_code == 200
    refused = forgot(http, "siti@example.id", lang="en")
    assert refused.status_code == 429
    assert "wait 1 minute" in refused.text
    assert forgot(http, "budi@example.id", lang="en").status_code == 200


def test_device_codes_are_limited_per_ip(counters: str, http: TestClient) -> None:
    def submit(code: str) -> httpx.Response:
        page = http.get("/device?lang=en")
        response: httpx.Response = http.post(
            "/device?lang=en", data={"user_code": code, "csrf_token": csrf_of(page.text)}
        )
        return response

    for _ in range(20):
        assert submit("BCDF-GHJK").status_code == 400
    assert submit("BCDF-GHJK").status_code == 429


def test_counters_are_collected(
    runtime: AppRuntime, db: Session, http: TestClient, rp: str, frozen_clock: FrozenClock
) -> None:
    fail(LoginPage(http, rp), "nobody", 2)
    assert db.scalar(select(func.count()).select_from(ThrottleCounter))
    frozen_clock.advance(runtime.settings.throttle_window_seconds + 1)
    with runtime.sessions() as session:
        counts = gc.collect(session)
        session.commit()
    assert counts["throttle_counters"] >= 1
    assert not db.scalar(select(func.count()).select_from(ThrottleCounter))
