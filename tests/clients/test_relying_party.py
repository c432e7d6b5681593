"""What every relying party does (tangsel_rp), shown on the event site: the login's checks,
errors as readable pages, server-side sessions, refresh before expiry, and the back-channel
logout endpoint refusing every malformed logout token."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select, update

from tests.clients.conftest import (
    HTTP,
    RP,
    Provider,
    Server,
    browser_client,
    form_of,
    free_port,
    login,
    start_rp,
)

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(scope="module")
def rp(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RP]:
    rp = start_rp(provider, "event", tmp_path_factory.mktemp("rp"))
    for name in ("lina", "made", "nina", "oka", "putu"):
        provider.user(name)
    yield rp
    rp.server.stop()
    rp.toolkit.engine.dispose()


def record_of(rp: RP, sub: str) -> Any:
    from tangsel_rp.db import transaction
    from tangsel_rp.sessions import SessionRecord

    with transaction(rp.toolkit.sessions) as db:
        return db.scalar(select(SessionRecord).where(SessionRecord.sub == sub))


def signed_in(http: httpx.Client, rp: RP) -> bool:
    return 'id="signed-in"' in http.get(f"{rp.url}/").text


# -- login -------------------------------------------------------------------------------


def test_login_uses_pkce_state_nonce_and_a_fresh_session_id(rp: RP, provider: Provider) -> None:
    with browser_client() as http:
        assert http.get(f"{rp.url}/").status_code == 200
        assert "event_session" not in http.cookies  # no session for a visitor who only reads
        start = http.get(f"{rp.url}/login", follow_redirects=False)
        assert start.status_code == 303
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
        assert query["state"] and query["nonce"] and query["response_type"] == ["code"]
        assert query["redirect_uri"] == [f"{rp.url}/auth/callback"]
        before = http.cookies.get("event_session")
        assert (
            "HttpOnly" in start.headers["set-cookie"]
            and "SameSite=Lax" in start.headers["set-cookie"]
        )
        login(http, rp, "lina")
        after = http.cookies.get("event_session")
        assert before and after and before != after  # no session fixation
        row = record_of(rp, provider.user_id("lina"))
        # The database keeps a hash of the cookie, never the cookie itself.
        assert row.id == hashlib.sha256(after.encode()).hexdigest()
        assert row.sid and row.refresh_token and row.claims["name"] == "Lina"


def _callback(http: httpx.Client, rp: RP, **params: str) -> httpx.Response:
    return http.get(f"{rp.url}/auth/callback", params=params)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        ("access_denied", "membatalkan proses masuk"),
        ("login_required", "perlu masuk terlebih dahulu"),
        ("consent_required", "persetujuan Anda"),
        ("<script>x</script>", "Proses masuk gagal"),
    ],
)
def test_provider_errors_become_readable_pages(rp: RP, error: str, text: str) -> None:
    with browser_client() as http:
        page = _callback(http, rp, error=error, state="whatever", error_description="<b>x</b>")
        assert page.status_code == 400 and text in page.text
        assert "Traceback" not in page.text and "<b>x</b>" not in page.text
        assert "<script>x</script>" not in page.text  # escaped
        assert 'href="/login"' in page.text


def test_cancelling_at_the_provider_comes_back_as_access_denied(rp: RP) -> None:
    with browser_client() as http:
        page = http.get(f"{rp.url}/login")
        action, csrf = form_of(page.text)
        abort = httpx.URL(str(page.url)).join(action.rsplit("/", 1)[0] + "/abort")
        back = http.post(abort, data={"csrf_token": csrf})
        assert str(back.url).startswith(f"{rp.url}/auth/callback")
        assert back.status_code == 400 and "membatalkan" in back.text


def test_a_callback_without_our_state_is_refused(rp: RP) -> None:
    with browser_client() as victim, browser_client() as attacker:
        # The attacker's code, injected into the victim's browser (login CSRF).
        start = attacker.get(f"{rp.url}/login")
        action, csrf = form_of(start.text)
        attacker.follow_redirects = False
        done = attacker.post(
            httpx.URL(str(start.url)).join(action),
            data={"username": "made", "password": "Kata-Sandi-Uji-Coba-2024", "csrf_token": csrf},
        )
        while not done.headers["location"].startswith(rp.url):
            done = attacker.get(httpx.URL(str(done.url)).join(done.headers["location"]))
        page = victim.get(done.headers["location"])
        assert page.status_code == 400 and "kedaluwarsa atau berasal dari tab lain" in page.text
        assert not signed_in(victim, rp)


def test_a_wrong_iss_in_the_response_is_refused(rp: RP) -> None:
    with browser_client() as http:
        start = http.get(f"{rp.url}/login", follow_redirects=False)
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        page = _callback(http, rp, code="x", state=state, iss="https://evil.example")
        assert page.status_code == 400 and "tidak valid" in page.text


def test_an_id_token_with_another_nonce_is_refused(rp: RP, provider: Provider) -> None:
    from tangsel_rp.db import transaction
    from tangsel_rp.sessions import SessionRecord

    with browser_client() as http:
        page = http.get(f"{rp.url}/login")  # the provider's login page; our state is stored
        row_id = hashlib.sha256(http.cookies["event_session"].encode()).hexdigest()
        with transaction(rp.toolkit.sessions) as db:
            row = db.get(SessionRecord, row_id)
            data = {k: v for k, v in row.data.items()}
            key = next(k for k in data if k.startswith("_state_sso_"))
            data[key] = {**data[key], "data": {**data[key]["data"], "nonce": "another-nonce"}}
            db.execute(update(SessionRecord).where(SessionRecord.id == row_id).values(data=data))
        action, csrf = form_of(page.text)
        back = http.post(
            httpx.URL(str(page.url)).join(action),
            data={"username": "nina", "password": "Kata-Sandi-Uji-Coba-2024", "csrf_token": csrf},
        )
        assert back.status_code == 400 and "Token dari Tangsel SSO tidak valid" in back.text
        assert record_of(rp, provider.user_id("nina")) is None


def test_an_unreachable_or_wrong_provider_gives_a_page(
    rp: RP, provider: Provider, tmp_path
) -> None:
    from event.app import create_app

    # localhost serves the provider, but its discovery names 127.0.0.1 as the issuer.
    wrong = rp.settings.model_copy(
        update={
            "oidc_issuer": provider.url.replace("127.0.0.1", "localhost"),
            "database_url": f"sqlite:///{tmp_path / 'wrong.db'}",
        }
    )
    server = Server(create_app(wrong), free_port())
    try:
        page = HTTP.get(f"{server.url}/login")
        assert page.status_code == 503 and "tidak dapat dihubungi" in page.text
    finally:
        server.stop()


def test_logout_needs_the_form_token_and_survives_a_session_gone_meanwhile(
    rp: RP, provider: Provider
) -> None:
    with browser_client() as http:
        login(http, rp, "lina")
        refused = http.post(f"{rp.url}/logout", data={})  # a cross-site form cannot log us out
        assert refused.status_code == 403 and signed_in(http, rp)
        rp.toolkit.store.end_for(sub=provider.user_id("lina"))  # e.g. a back-channel logout
        gone = http.post(f"{rp.url}/logout", data={})
        assert gone.status_code == 200 and gone.url.path == "/"


# -- refresh -------------------------------------------------------------------------------


def test_tokens_are_refreshed_before_they_expire(rp: RP, provider: Provider) -> None:
    from tangsel_rp.db import transaction
    from tangsel_rp.sessions import SessionRecord

    sub = provider.user_id("oka")
    with browser_client() as http:
        login(http, rp, "oka")
        first = record_of(rp, sub)
        with transaction(rp.toolkit.sessions) as db:  # as if 10 minutes went by
            db.execute(
                update(SessionRecord)
                .where(SessionRecord.id == first.id)
                .values(token_expires_at=int(time.time()) + 30)
            )
        assert signed_in(http, rp)
        second = record_of(rp, sub)
        assert second.refresh_token != first.refresh_token
        assert second.access_token != first.access_token
        assert second.token_expires_at > int(time.time()) + 300
        assert second.refresh_lock_until is None
        # The grant is revoked at the provider: the next refresh fails and the session ends.
        revoked = HTTP.post(
            f"{provider.url}/revoke",
            data={"token": second.refresh_token},
            auth=(rp.client_id, rp.client_secret),
        )
        assert revoked.status_code == 200
        with transaction(rp.toolkit.sessions) as db:
            db.execute(
                update(SessionRecord)
                .where(SessionRecord.id == second.id)
                .values(token_expires_at=int(time.time()) + 30)
            )
        assert not signed_in(http, rp)
        assert record_of(rp, sub) is None


# -- back-channel logout ----------------------------------------------------------------


def logout_claims(rp: RP, provider: Provider, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": provider.url,
        "aud": rp.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {EVENT: {}},
        "sub": "someone",
        "sid": "some-sid",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def post_logout_token(rp: RP, token: str | None) -> httpx.Response:
    data = {"logout_token": token} if token is not None else {}
    return HTTP.post(f"{rp.url}/backchannel-logout", data=data)


def test_a_valid_logout_token_ends_only_that_session(rp: RP, provider: Provider) -> None:
    sub = provider.user_id("putu")
    with browser_client() as laptop, browser_client() as phone:
        login(laptop, rp, "putu")
        login(phone, rp, "putu")  # a second provider session: another sid
        assert signed_in(laptop, rp) and signed_in(phone, rp)
        laptop_sid = hashlib.sha256(laptop.cookies["event_session"].encode()).hexdigest()
        from tangsel_rp.db import transaction
        from tangsel_rp.sessions import SessionRecord

        with transaction(rp.toolkit.sessions) as db:
            sid = db.get(SessionRecord, laptop_sid).sid
        token = provider.sign(logout_claims(rp, provider, sub=sub, sid=sid), typ="logout+jwt")
        response = post_logout_token(rp, token)
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        assert not signed_in(laptop, rp)
        assert signed_in(phone, rp)
        # The same token again (a retried delivery) is fine: nothing left to end.
        assert post_logout_token(rp, token).status_code == 200
        # sub alone: every session of the person.
        token = provider.sign(logout_claims(rp, provider, sub=sub, sid=None), typ="logout+jwt")
        assert post_logout_token(rp, token).status_code == 200
        assert not signed_in(phone, rp)


@pytest.mark.parametrize(
    ("changes", "typ"),
    [
        ({"aud": "another-client"}, "logout+jwt"),
        ({"iss": "https://evil.example"}, "logout+jwt"),
        ({"events": None}, "logout+jwt"),
        ({"events": {"http://schemas.openid.net/event/other": {}}}, "logout+jwt"),
        ({"events": {EVENT: "yes"}}, "logout+jwt"),
        ({"nonce": "n-0S6_WzA2Mj"}, "logout+jwt"),
        ({"sid": None, "sub": None}, "logout+jwt"),
        ({"iat": None}, "logout+jwt"),
        ({"iat": int(time.time()) - 86_400}, "logout+jwt"),
        ({"iat": int(time.time()) + 3_600}, "logout+jwt"),
        ({"exp": int(time.time()) - 600}, "logout+jwt"),
        ({"jti": None}, "logout+jwt"),
        ({}, "at+jwt"),
    ],
)
def test_malformed_logout_tokens_are_refused(rp: RP, provider: Provider, changes, typ) -> None:
    token = provider.sign(logout_claims(rp, provider, **changes), typ=typ)
    response = post_logout_token(rp, token)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


def test_logout_tokens_not_signed_by_the_provider_are_refused(rp: RP, provider: Provider) -> None:
    good = provider.sign(logout_claims(rp, provider), typ="logout+jwt")
    kid = jwt.decode(good, rp.toolkit.rp.jwks.key_set()).header["kid"]
    impostor = RSAKey.generate_key(2048, parameters={"kid": kid})
    forged = jwt.encode(
        {"alg": "RS256", "kid": kid, "typ": "logout+jwt"}, logout_claims(rp, provider), impostor
    )
    for token in (forged, good[:-6] + "AAAAAA", "a.b.c", ""):
        assert post_logout_token(rp, token).status_code == 400
    assert post_logout_token(rp, None).status_code == 400


# -- settings and roles ----------------------------------------------------------------------


@pytest.mark.parametrize("module", ["event", "data_portal", "hotspot"])
def test_apps_refuse_to_start_without_credentials(module: str) -> None:
    import importlib

    from pydantic import ValidationError

    settings = importlib.import_module(f"{module}.settings")
    cls = next(v for k, v in vars(settings).items() if k.endswith("Settings") and k != "RPSettings")
    with pytest.raises(ValidationError) as refused:
        cls(_env_file=None, client_id="", client_secret=" ")  # what compose passes when unset
    assert {e["loc"][0] for e in refused.value.errors()} == {"client_id", "client_secret"}


def test_roles_come_from_the_claim_and_local_grants() -> None:
    from tangsel_rp.user import RPUser

    claims = {
        "sub": "u1",
        "preferred_username": "rina",
        "roles": ["organizer", 7],
        "opd": {"code": "DISKOMINFO", "name": "Dinas Kominfo"},
    }
    user = RPUser.from_claims(claims, {"rina": ["hotspot-operator"], "u2": ["publisher"]})
    assert user.roles == {"organizer", "hotspot-operator"}
    assert (user.agency_code, user.agency_name, user.name) == (
        "DISKOMINFO",
        "Dinas Kominfo",
        "rina",
    )
    assert RPUser.from_claims({"sub": "u3", "opd": "bogus"}).agency_code is None


@pytest.mark.parametrize("app", ["event", "hotspot", "data_portal"])
def test_an_app_starts_without_authlibs_httpx_warning(app: str, tmp_path: Path) -> None:
    """`make demo` printed Authlib's "The httpx module is deprecated" at every start of every
    app: the filter the apps set came before the one Authlib puts in front on import.
    `python -m <app>` without its settings imports everything, then stops at the settings."""
    clients = Path(__file__).resolve().parents[2] / "clients"
    done = subprocess.run(  # noqa: S603 (our interpreter, our code)
        [sys.executable, "-W", "default", "-m", app],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": f"{clients / app}{os.pathsep}{clients}", "PATH": os.environ["PATH"]},
    )
    assert done.returncode != 0 and "client_id" in done.stderr.lower(), done.stderr
    assert "httpx module is deprecated" not in done.stderr, done.stderr
