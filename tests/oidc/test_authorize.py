"""/authorize and the interaction pages, driven over HTTP like a browser and a relying party."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from sso.db.models import AuditEvent, AuthorizationCode, LoginSession
from tests.factories import create_client, create_user
from tests.oidc.flow import authorize_url, csrf_of, login, query_of

RP = "https://rp.example.id/callback"


@pytest.fixture
def rp(runtime, db):
    client, secret = create_client(runtime, db)
    return client


@pytest.fixture
def siti(runtime, db):
    return create_user(runtime, db, username="siti")


def test_unknown_client_gets_a_page_not_a_redirect(http):
    r = http.get(authorize_url("nope").url, follow_redirects=False)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "text/html" in r.headers["content-type"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_unregistered_redirect_uri_gets_a_page(http, rp):
    r = http.get(authorize_url(rp.client_id, "https://evil.example/cb").url, follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers
    # A redirect URI that only shares a prefix is not the registered one either.
    r = http.get(authorize_url(rp.client_id, RP + "/../x").url, follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"claims": "{not json"}, "invalid_request"),
        ({"request": "eyJ.eyJ.x"}, "request_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
def test_errors_go_back_to_the_client_with_state_and_iss(http, rp, extra, error):
    req = authorize_url(rp.client_id)
    params = query_of(req.url)
    params.update(extra)
    r = http.get("/authorize?" + urlencode(params), follow_redirects=False)
    assert r.status_code == 303, r.text
    q = query_of(r.headers["location"])
    assert r.headers["location"].startswith(RP + "?")
    assert q["error"] == error
    assert q["state"] == req.state
    assert q["iss"] == "http://testserver"


def test_duplicate_parameter_is_refused(http, rp):
    req = authorize_url(rp.client_id)
    r = http.get(req.url + "&scope=openid", follow_redirects=False)
    q = query_of(r.headers["location"])
    assert q["error"] == "invalid_request"


def test_public_client_must_use_pkce(http, runtime, db):
    public, _ = create_client(runtime, db, name="Hotspot app", public=True)
    r = http.get(authorize_url(public.client_id, pkce=False).url, follow_redirects=False)
    assert query_of(r.headers["location"])["error"] == "invalid_request"


def test_login_consent_code_and_single_sign_on(http, rp, siti, db):
    req = authorize_url(rp.client_id)
    r = http.get(req.url, follow_redirects=False)
    interaction = r.headers["location"]
    page = http.get(interaction)
    assert page.status_code == 200
    assert 'lang="id"' in page.text  # Bahasa Indonesia by default
    assert rp.name in page.text
    location = login(http, req, "siti")
    assert location.startswith(RP + "?")
    q = query_of(location)
    assert q["code"].startswith("tsso_ac_") and q["state"] == req.state
    assert q["iss"] == "http://testserver"
    # The code is stored only as a keyed hash.
    assert (
        db.scalar(
            select(func.count())
            .select_from(AuthorizationCode)
            .where(AuthorizationCode.code_hash == q["code"])
        )
        == 0
    )
    cookie = http.cookies.get("sso_session")
    assert cookie and cookie.startswith("tsso_ss_")

    # Same browser, second request: a code at once, no form (SSO); prompt=none too.
    for extra in ({}, {"prompt": "none"}):
        again = authorize_url(rp.client_id, **extra)
        r = http.get(again.url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith(RP + "?code=")
        assert query_of(r.headers["location"])["state"] == again.state


def test_email_and_login_by_email(http, rp, siti):
    location = login(http, authorize_url(rp.client_id), "SITI@example.id")
    assert "code" in query_of(location)


def test_second_app_gets_code_without_a_form_when_trusted(http, rp, siti, runtime, db):
    login(http, authorize_url(rp.client_id), "siti")
    other, _ = create_client(
        runtime, db, name="Event", redirect_uris=["https://event.example.id/cb"], trusted=True
    )
    r = http.get(
        authorize_url(other.client_id, "https://event.example.id/cb").url, follow_redirects=False
    )
    assert r.headers["location"].startswith("https://event.example.id/cb?code=")


def test_untrusted_second_app_asks_consent_once(http, rp, siti, runtime, db):
    login(http, authorize_url(rp.client_id), "siti")
    other, _ = create_client(
        runtime, db, name="Hotspot", redirect_uris=["https://wifi.example.id/cb"]
    )
    req = authorize_url(other.client_id, "https://wifi.example.id/cb")
    r = http.get(req.url, follow_redirects=False)
    assert r.headers["location"].startswith("/interaction/")
    page = http.get(r.headers["location"])
    assert 'name="decision"' in page.text and 'name="password"' not in page.text
    location = login(http, req, "siti")
    assert "code" in query_of(location)
    # Remembered: the next request gets a code at once; a new scope asks again.
    r = http.get(
        authorize_url(other.client_id, "https://wifi.example.id/cb").url, follow_redirects=False
    )
    assert r.headers["location"].startswith("https://wifi.example.id/cb?code=")
    r = http.get(
        authorize_url(
            other.client_id, "https://wifi.example.id/cb", scope="openid profile email phone"
        ).url,
        follow_redirects=False,
    )
    assert r.headers["location"].startswith("/interaction/")


def test_prompt_none_without_session_is_login_required(http, rp):
    req = authorize_url(rp.client_id, prompt="none")
    r = http.get(req.url, follow_redirects=False)
    q = query_of(r.headers["location"])
    assert q["error"] == "login_required" and q["state"] == req.state


def test_prompt_none_without_consent_is_consent_required(http, rp, siti, runtime, db):
    login(http, authorize_url(rp.client_id), "siti")
    r = http.get(
        authorize_url(rp.client_id, scope="openid phone", prompt="none").url, follow_redirects=False
    )
    assert query_of(r.headers["location"])["error"] == "consent_required"


def test_prompt_login_and_max_age_force_a_new_login_and_new_session(http, rp, siti, db):
    login(http, authorize_url(rp.client_id), "siti")
    first = http.cookies.get("sso_session")
    for extra in ({"prompt": "login"}, {"max_age": "0"}):
        req = authorize_url(rp.client_id, **extra)
        r = http.get(req.url, follow_redirects=False)
        assert r.headers["location"].startswith("/interaction/")
        page = http.get(r.headers["location"])
        assert 'name="password"' in page.text
        location = login(http, req, "siti")
        assert "code" in query_of(location)
    assert http.cookies.get("sso_session") != first
    db.expire_all()
    ended = db.scalar(
        select(func.count()).select_from(LoginSession).where(LoginSession.ended_at.is_not(None))
    )
    assert ended >= 1


def test_consent_denied_is_access_denied(http, rp, siti):
    req = authorize_url(rp.client_id)
    q = query_of(login(http, req, "siti", consent="deny"))
    assert q["error"] == "access_denied" and q["state"] == req.state


def test_form_post_response_mode(http, rp, siti):
    login(http, authorize_url(rp.client_id), "siti")
    req = authorize_url(rp.client_id, response_mode="form_post")
    r = http.get(req.url, follow_redirects=False)
    assert r.status_code == 200
    assert f'action="{RP}"' in r.text
    assert 'name="code"' in r.text and req.state in r.text and 'name="iss"' in r.text


def test_wrong_password_is_refused_and_audited(http, rp, siti, db):
    req = authorize_url(rp.client_id)
    interaction = http.get(req.url, follow_redirects=False).headers["location"]
    page = http.get(interaction)
    r = http.post(
        f"{interaction}/login",
        data={"username": "siti", "password": "wrong password!", "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 401
    assert "sso_session" not in http.cookies
    events = db.scalars(select(AuditEvent.event)).all()
    assert "user.login_failed" in events
    assert "wrong password" not in str(db.scalars(select(AuditEvent.details)).all())


def test_login_form_needs_csrf_and_same_site(http, rp, siti):
    req = authorize_url(rp.client_id)
    interaction = http.get(req.url, follow_redirects=False).headers["location"]
    page = http.get(interaction)
    r = http.post(f"{interaction}/login", data={"username": "siti", "password": "x"})
    assert r.status_code == 403
    r = http.post(
        f"{interaction}/login",
        data={"username": "siti", "password": "x", "csrf_token": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403


def test_interaction_is_bound_to_the_browser(http, app, rp, siti):
    from fastapi.testclient import TestClient

    req = authorize_url(rp.client_id)
    interaction = http.get(req.url, follow_redirects=False).headers["location"]
    other_browser = TestClient(app, base_url="http://testserver")
    r = other_browser.get(interaction)
    assert r.status_code == 400 and 'name="password"' not in r.text


def test_english_with_ui_locales(http, rp):
    req = authorize_url(rp.client_id, ui_locales="en-US id")
    interaction = http.get(req.url, follow_redirects=False).headers["location"]
    page = http.get(interaction)
    assert 'lang="en"' in page.text


def test_loopback_redirect_uri_may_change_port(http, runtime, db, siti):
    native, _ = create_client(
        runtime, db, name="Desktop", public=True, redirect_uris=["http://127.0.0.1/callback"]
    )
    req = authorize_url(native.client_id, "http://127.0.0.1:53123/callback")
    location = login(http, req, "siti")
    assert location.startswith("http://127.0.0.1:53123/callback?code=")
    r = http.get(
        authorize_url(native.client_id, "http://127.0.0.1:53123/other").url, follow_redirects=False
    )
    assert r.status_code == 400


def _id_token_for(runtime, user_id: str, client_id: str) -> str:
    from sso.core.clock import now

    t = int(now().timestamp())
    return runtime.keys.sign_jwt(
        {"iss": "http://testserver", "sub": user_id, "aud": client_id, "iat": t, "exp": t + 60},
        "RS256",
    )


def test_id_token_hint_for_another_person_needs_login(http, rp, siti, runtime, db):
    login(http, authorize_url(rp.client_id), "siti")
    other = create_user(runtime, db, username="ani")
    hint = _id_token_for(runtime, other.id, rp.client_id)
    r = http.get(
        authorize_url(rp.client_id, prompt="none", id_token_hint=hint).url, follow_redirects=False
    )
    assert query_of(r.headers["location"])["error"] == "login_required"
    mine = _id_token_for(runtime, siti.id, rp.client_id)
    r = http.get(
        authorize_url(rp.client_id, prompt="none", id_token_hint=mine).url, follow_redirects=False
    )
    assert "code" in query_of(r.headers["location"])


@pytest.mark.parametrize("hint", ["not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "a.b.c"])
def test_bogus_id_token_hint_is_invalid_request(http, rp, hint):
    r = http.get(authorize_url(rp.client_id, id_token_hint=hint).url, follow_redirects=False)
    assert r.status_code == 303
    assert query_of(r.headers["location"])["error"] == "invalid_request"


def test_idle_and_absolute_session_lifetimes(http, rp, siti, runtime):
    from sso.core.clock import FrozenClock, set_clock

    clock = FrozenClock()
    previous = set_clock(clock)
    try:
        login(http, authorize_url(rp.client_id), "siti")
        clock.advance(runtime.settings.session_idle_lifetime - 120)
        r = http.get(authorize_url(rp.client_id, prompt="none").url, follow_redirects=False)
        assert "code" in query_of(r.headers["location"])  # in use: idle timer restarts
        clock.advance(runtime.settings.session_idle_lifetime + 1)
        r = http.get(authorize_url(rp.client_id, prompt="none").url, follow_redirects=False)
        assert query_of(r.headers["location"])["error"] == "login_required"
    finally:
        set_clock(previous)


def test_malformed_requests_never_500(http, rp):
    cases = [
        "/authorize?client_id=%ff%fe&response_type=code",
        "/authorize?" + "x" * 9000,
        f"/authorize?client_id={rp.client_id}&client_id=other",
        f"/authorize?client_id={rp.client_id}&redirect_uri=https%3A%2F%2Frp.example.id%2Fcallback"
        "&response_type=code&scope=openid&state=" + "s" * 5000,
        "/interaction/does-not-exist",
    ]
    for path in cases:
        r = http.get(path, follow_redirects=False)
        assert r.status_code in (303, 400, 414), (path[:80], r.status_code)
    r = http.post(
        "/authorize",
        content=b"\xff\xfe=\x00",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert r.status_code in (303, 400)


def _hint_of_unpublished_key(runtime, user_id: str, client_id: str) -> str:
    """An ID token of ours in every respect but its key, which we no longer publish."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from sso.core.clock import now

    t = int(now().timestamp())
    gone = RSAKey.generate_key(2048, parameters={"kid": "unpublished-key"}, private=True)
    claims = {"iss": "http://testserver", "sub": user_id, "aud": client_id, "iat": t, "exp": t + 60}
    return jwt.encode({"alg": "RS256", "kid": "unpublished-key"}, claims, gone)


def test_hint_of_an_unpublished_key_is_answered_in_one_connection(http, rp, siti, runtime):
    """Issue 14 item 1: the key cache revalidated on a session of its own while the request's
    held SQLite's write lock: 30 s, then 503 (and two pool connections on PostgreSQL)."""
    from tests.oidc.connections import one_connection_per_thread

    login(http, authorize_url(rp.client_id), "siti")
    hint = _hint_of_unpublished_key(runtime, siti.id, rp.client_id)
    runtime.keys.cache.invalidate()  # the cache revalidates during the request
    with one_connection_per_thread(runtime.engine) as watch:
        r = http.get(
            authorize_url(rp.client_id, prompt="none", id_token_hint=hint).url,
            follow_redirects=False,
        )
    assert watch.most == 1
    assert r.status_code == 303, r.text
    # A hint we cannot check names someone we cannot confirm: never answered at once.
    assert query_of(r.headers["location"])["error"] == "login_required"
    runtime.keys.cache.invalidate()
    with one_connection_per_thread(runtime.engine) as watch:
        r = http.get(authorize_url(rp.client_id, id_token_hint=hint).url, follow_redirects=False)
    assert watch.most == 1
    assert r.status_code == 303 and r.headers["location"].startswith("/interaction/")


@pytest.mark.parametrize("sent_at_authorize", [False, True])
def test_token_request_repeats_redirect_uri_only_if_authorize_had_it(
    http, runtime, db, siti, sent_at_authorize
):
    """RFC 6749 §4.1.3 (issue 14 item 3): redirect_uri is required at /token if, and only if,
    the authorization request included it; then it must be identical."""
    client, secret = create_client(runtime, db, name="API only", scope="api:read")
    req = authorize_url(client.client_id, RP if sent_at_authorize else None, "api:read")
    assert ("redirect_uri=" in req.url) is sent_at_authorize
    location = login(http, req, "siti")
    assert location.startswith(RP + "?")
    form = {
        "grant_type": "authorization_code",
        "code": query_of(location)["code"],
        "code_verifier": req.verifier,
    }
    if sent_at_authorize:
        r = http.post("/token", data=form, auth=(client.client_id, secret))
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        form["redirect_uri"] = RP
    r = http.post("/token", data=form, auth=(client.client_id, secret))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "api:read" and "id_token" not in body


@pytest.mark.parametrize("trusted", [True, False])
def test_prompt_consent_always_shows_the_consent_page(http, rp, siti, runtime, db, trusted):
    """OIDC Core §3.1.2.1 (issue 14 item 8): prompt=consent asks again, for a trusted client
    and over a remembered consent alike; the person's answer decides."""
    app, _ = create_client(
        runtime, db, name="Event", trusted=trusted, redirect_uris=["https://event.example.id/cb"]
    )
    # Logged in, consent remembered (or not needed): a code at once without prompt=consent.
    location = login(http, authorize_url(app.client_id, "https://event.example.id/cb"), "siti")
    assert "code" in query_of(location)
    r = http.get(
        authorize_url(app.client_id, "https://event.example.id/cb").url, follow_redirects=False
    )
    assert r.headers["location"].startswith("https://event.example.id/cb?code=")

    for decision, answer in (("deny", "error"), ("allow", "code")):
        req = authorize_url(app.client_id, "https://event.example.id/cb", prompt="consent")
        r = http.get(req.url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/interaction/")
        page = http.get(r.headers["location"])
        assert 'name="decision"' in page.text and 'name="password"' not in page.text
        q = query_of(login(http, req, "siti", consent=decision))
        assert answer in q and q["state"] == req.state
        if answer == "error":
            assert q["error"] == "access_denied"
