"""Abuse limits around accounts, over HTTP (issue 4, "Guessing and abuse"), beyond those in
test_throttle.py: registrations per IP (a 429 page with the wait in words, never in the way of
a festival's many registrations), password-reset requests per IP, the same answers for existing
and unknown accounts at login, registration and reset, and the console's current-password check
under 50 parallel guesses. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.accounts.console import console, text_of
from tests.accounts.helpers import forgot, register
from tests.factories import create_client, create_user
from tests.oidc.flow import authorize_url, csrf_of


def browser(app, ip: str) -> TestClient:
    return TestClient(app, base_url="http://testserver", client=(ip, 50000))


def main_of(text: str, *replace: str) -> str:
    """A page's main content, with the values that may differ blanked out."""
    main = text.split("<main", 1)[1].split("</main>", 1)[0]
    for value in replace:
        main = main.replace(value, "VALUE")
    return re.sub(r"/interaction/[^/\"]+", "/interaction/ID", main)


def test_registrations_are_limited_per_ip_with_the_wait_in_words(
    app, http, runtime, db, mailbox, frozen_clock
):
    runtime.settings.registration_max_requests_ip = 3
    for i in range(3):
        assert register(http, email=f"warga{i}@example.id").status_code == 200
    refused = register(http, email="warga3@example.id", lang="en")
    assert refused.status_code == 429
    assert "Please wait 1 minute(s), then try again." in text_of(refused)
    assert int(refused.headers["Retry-After"]) == 60
    in_bahasa = register(http, email="warga3@example.id", lang="id")
    assert in_bahasa.status_code == 429 and "tunggu 1 menit" in text_of(in_bahasa)
    # An existing address counts the same (and gets the same refusal).
    create_user(runtime, db, username="siti")
    assert register(http, email="siti@example.id").status_code == 429
    with browser(app, "203.0.113.9") as elsewhere:
        assert register(elsewhere, email="warga4@example.id").status_code == 200
    frozen_clock.advance(61)
    assert register(http, email="warga3@example.id").status_code == 200


def test_a_festival_registers_many_people_behind_one_ip(http, mailbox):
    for i in range(25):  # one hotspot, many citizens: the default limit is far above this
        assert register(http, email=f"festival{i}@example.id").status_code == 200


def test_password_reset_requests_are_limited_per_ip(app, http, runtime, db, mailbox):
    runtime.settings.password_reset_max_requests_ip = 3
    for i in range(3):
        assert forgot(http, f"orang{i}@example.id", lang="en").status_code == 200
    refused = forgot(http, "orang3@example.id", lang="en")
    assert refused.status_code == 429 and "wait 1 minute" in text_of(refused)
    assert int(refused.headers["Retry-After"]) == 60
    with browser(app, "203.0.113.9") as elsewhere:
        assert forgot(elsewhere, "orang3@example.id", lang="en").status_code == 200


def _login_attempt(http: TestClient, client_id: str, username: str, password: str):
    r = http.get(authorize_url(client_id).url + "&ui_locales=en", follow_redirects=False)
    interaction = r.headers["location"]
    page = http.get(interaction)
    return http.post(
        f"{interaction}/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def test_login_answers_the_same_for_existing_and_unknown_accounts(http, runtime, db):
    client, _ = create_client(runtime, db)
    create_user(runtime, db, username="siti")
    known = _login_attempt(http, client.client_id, "siti@example.id", "wrong password here")
    unknown = _login_attempt(http, client.client_id, "rina@example.id", "wrong password here")
    assert known.status_code == unknown.status_code == 401
    assert main_of(text_of(known), "siti@example.id") == main_of(
        text_of(unknown), "rina@example.id"
    )
    assert "Incorrect username or password." in text_of(known)


def test_registration_and_reset_pages_do_not_tell_whether_an_account_exists(
    http, runtime, db, mailbox
):
    create_user(runtime, db, username="siti", email="siti@example.id")
    pages = {}
    for email in ("siti@example.id", "rina@example.id"):
        registered = register(http, email=email, lang="en")
        reset = forgot(http, email, lang="en")
        assert registered.status_code == reset.status_code == 200
        pages[email] = (main_of(text_of(registered), email), main_of(text_of(reset), email))
    assert pages["siti@example.id"] == pages["rina@example.id"]
    registered_page, reset_page = pages["rina@example.id"]
    assert "We have sent an email to VALUE." in registered_page
    assert "If VALUE is registered with Tangsel SSO" in reset_page


def test_parallel_guesses_of_the_current_password_run_at_most_threshold_checks(http, runtime, db):
    create_user(runtime, db, username="siti")
    assert console(http, "/account/password", "siti").status_code == 200
    token = csrf_of(http.get("/account/password").text)
    hasher = runtime.password_hasher
    original = hasher.verify
    checks = 0
    lock = threading.Lock()

    def counting(password: str, password_hash: str):
        nonlocal checks
        with lock:
            checks += 1
        return original(password, password_hash)

    hasher.verify = counting  # type: ignore[method-assign]
    form = {
        "current_password": "guess!",
        "password": "nasi uduk di pagi hari",
        "password_confirm": "nasi uduk di pagi hari",
        "csrf_token": token,
    }

    def guess(_: int) -> int:
        return http.post("/account/password", data=form, follow_redirects=False).status_code

    with ThreadPoolExecutor(max_workers=25) as pool:
        codes = list(pool.map(guess, range(50)))
    hasher.verify = original  # type: ignore[method-assign]
    assert checks <= runtime.settings.login_max_failures_account_ip
    assert codes.count(400) == checks and codes.count(429) == 50 - checks
