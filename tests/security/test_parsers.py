"""Property-based tests of the parsers that read untrusted input: whatever comes in, the answer
is a value or the parser's own refusal, never an unexpected exception.

NIP and NIK, redirect URIs (registration and the loopback-port match at /authorize), JWT
verification, the authorization request's parameters (on both backends: PostgreSQL refuses
NUL characters that SQLite stores), Accept-Language, and the /authorize endpoint over HTTP.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from contextlib import suppress
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from sso.accounts.identifiers import validate_nik, validate_nip
from sso.core.errors import InvalidInput
from sso.oauth import redirect_uris
from sso.oidc.authorize import (
    AuthorizationPageError,
    AuthorizationRedirectError,
    validate,
)
from sso.oidc.jws import InvalidJWT
from sso.web.app_runtime import AppRuntime
from sso.web.i18n import SUPPORTED, parse_accept_language
from tests.factories import create_client
from tests.oidc.flow import authorize_url, csrf_of

FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None)
WITH_DB = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REDIRECT = "https://rp.example.id/callback"
LOOPBACK = "http://127.0.0.1/callback"

# Text that looks like the real thing more often than st.text() alone would.
digits = st.text(alphabet=st.characters(categories=["Nd"]), min_size=14, max_size=20)
near_numbers = st.one_of(
    st.text(max_size=24), digits, st.from_regex(r"\d{16}|\d{18}", fullmatch=True)
)
url_chars = st.sampled_from(list(":/?#[]@!$&'()*+,;=%.-_~ \t\x00\\") + ["é", "١", "ß"])
urlish = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, rest: scheme + rest,
        st.sampled_from(
            [
                "http://",
                "https://",
                "com.example.app:",
                "javascript:",
                "http://[",
                "https://user@",
                "http://127.0.0.1:",
                "http://[::1]:",
                "",
            ]
        ),
        st.text(alphabet=st.one_of(url_chars, st.characters(codec="ascii")), max_size=40),
    ),
)


@pytest.mark.parametrize(
    ("check", "length"), [(validate_nip, 18), (validate_nik, 16)], ids=["nip", "nik"]
)
@FAST
@given(raw=near_numbers)
def test_nip_and_nik_are_ascii_digits_of_their_length_or_refused(
    check: Callable[[str], str], length: int, raw: str
) -> None:
    try:
        number = check(raw)
    except InvalidInput:
        return
    assert len(number) == length and number.isascii() and number.isdigit()


@FAST
@given(urlish, st.booleans(), st.booleans())
def test_redirect_uri_registration_accepts_or_refuses(raw: str, native: bool, dev: bool) -> None:
    try:
        accepted = redirect_uris.check(raw, native=native, dev=dev)
    except InvalidInput:
        return
    assert accepted == raw
    assert not raw.lower().startswith(("javascript:", "data:", "file:"))
    assert "#" not in raw
    if raw.lower().startswith("http:") and not (native or dev):
        raise AssertionError(f"a web app registered {raw!r} outside dev")


@FAST
@given(urlish, st.booleans())
def test_redirect_uri_match_never_raises(presented: str, native: bool) -> None:
    for registered in (REDIRECT, LOOPBACK, "http://[::1]/cb", "com.example.app:/cb"):
        matched = redirect_uris.matches(registered, presented, native=native)
        assert isinstance(matched, bool)
        if matched and (registered == REDIRECT or not native):
            assert presented == registered  # only a native app's loopback port may vary


@FAST
@given(st.text(max_size=200))
def test_accept_language_gives_our_locales_only(header: str) -> None:
    chosen = parse_accept_language(header)
    assert all(locale in SUPPORTED for locale in chosen)
    assert len(chosen) == len(set(chosen))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
headers = st.one_of(
    st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku", "b64", "zip"]), json_values, max_size=4
    ),
    st.fixed_dictionaries(
        {
            "alg": st.sampled_from(["RS256", "ES256", "none", "HS256"]),
            "kid": st.text(max_size=30) | json_values,
        }
    ),
)
jwt_like = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=120),
    st.builds(
        lambda h, p, s: f"{_b64(json.dumps(h).encode())}.{_b64(json.dumps(p).encode())}.{s}",
        headers,
        json_values,
        st.text(
            alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", max_size=90
        ),
    ),
    st.builds(
        lambda a, b, c: f"{a}.{b}.{c}",
        st.text(max_size=30),
        st.text(max_size=30),
        st.text(max_size=30),
    ),
)


def test_verify_jwt_refuses_garbage_with_its_own_error(runtime: AppRuntime) -> None:
    keys = runtime.keys
    with runtime.sessions() as session:
        keys.ensure_keys(session)
        session.commit()
    kids = list(keys.cache._current(None).verifiers)

    @FAST
    @given(jwt_like, st.sampled_from([None, *kids]))
    def check(token: Any, kid: str | None) -> None:
        if kid is not None and isinstance(token, str) and token.count(".") == 2:
            head, rest = token.split(".", 1)
            token = _b64(json.dumps({"alg": "RS256", "kid": kid}).encode()) + "." + rest
        with pytest.raises(InvalidJWT):
            keys.verify_jwt(token)

    check()


params = st.dictionaries(
    st.sampled_from(
        [
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
            "claims",
            "ui_locales",
            "response_mode",
            "request",
            "id_token_hint",
            "acr_values",
        ]
    ),
    st.lists(
        st.text(max_size=40) | st.sampled_from(["openid", "code", "S256", "none", "{}"]), max_size=2
    ),
    max_size=10,
)


def test_authorize_parameters_are_validated_or_refused(runtime: AppRuntime, db: Session) -> None:
    client, _ = create_client(runtime, db, redirect_uris=[REDIRECT, LOOPBACK], public=True)

    @WITH_DB
    @given(
        params, st.booleans(), st.sampled_from([REDIRECT, LOOPBACK, "http://127.0.0.1:9/callback"])
    )
    def check(multi: dict[str, list[str]], known: bool, redirect: str) -> None:
        if known:
            multi = {
                "client_id": [client.client_id],
                "redirect_uri": [redirect],
                "response_type": ["code"],
                **{k: v for k, v in multi.items() if k not in ("client_id", "redirect_uri")},
            }
        with (
            runtime.sessions() as session,
            suppress(AuthorizationPageError, AuthorizationRedirectError),
        ):
            validate(session, multi)

    check()


def test_authorize_endpoint_never_fails_with_a_server_error(
    http: TestClient, runtime: AppRuntime, db: Session
) -> None:
    client, _ = create_client(runtime, db, redirect_uris=[REDIRECT, LOOPBACK], public=True)

    @WITH_DB
    @given(params)
    def check(multi: dict[str, list[str]]) -> None:
        query = [(k, v) for k, values in multi.items() for v in values]
        query.append(("client_id", client.client_id))
        r = http.get("/authorize", params=query, follow_redirects=False)
        assert r.status_code < 500, (query, r.status_code)

    check()


NUL_VALUES = ["\x00", "a\x00b", "\ud7ff\x00", "%00"]


def test_nul_characters_never_cause_a_server_error(
    http: TestClient, runtime: AppRuntime, db: Session
) -> None:
    """PostgreSQL refuses NUL in text; every endpoint must answer 4xx, not 500."""
    client, secret = create_client(runtime, db, redirect_uris=[REDIRECT])
    assert secret is not None
    for nul in NUL_VALUES:
        form = {
            "grant_type": "authorization_code",
            "code": nul,
            "redirect_uri": nul,
            "client_id": nul,
            "client_secret": nul,
            "refresh_token": nul,
            "token": nul,
            "scope": nul,
            "device_code": nul,
            "code_verifier": nul,
        }
        responses = [
            http.post("/token", data=form),
            http.post(
                "/token",
                data={**form, "grant_type": "refresh_token"},
                auth=(client.client_id, secret),
            ),
            http.post("/token", data={**form, "client_id": client.client_id, "client_secret": nul}),
            http.post("/token", data={"grant_type": "client_credentials"}, auth=(nul, nul)),
            http.post("/introspect", data={"token": nul}, auth=(client.client_id, secret)),
            http.post("/revoke", data={"token": nul}, auth=(client.client_id, secret)),
            http.post("/device_authorization", data={"client_id": nul, "scope": nul}),
            http.get(
                "/userinfo",
                headers={"Authorization": "Bearer " + nul.encode("unicode_escape").decode()},
            ),
            http.get("/authorize", params={"client_id": nul}),
            http.get("/authorize", params={"client_id": client.client_id, "redirect_uri": nul}),
            http.get(
                "/authorize",
                params={
                    "client_id": client.client_id,
                    "redirect_uri": REDIRECT,
                    "response_type": "code",
                    "scope": "openid",
                    "state": nul,
                    "nonce": nul,
                    "code_challenge": nul,
                    "code_challenge_method": "S256",
                    "login_hint": nul,
                    "id_token_hint": nul,
                },
            ),
            http.get("/logout", params={"id_token_hint": nul, "client_id": nul}),
            http.get("/interaction/" + quote(nul, safe="")),
            http.get("/device", params={"user_code": nul}),
            http.get("/password/reset", params={"token": nul}),
            http.get("/verify-email", params={"token": nul}),
        ]
        responses += _forms_with(http, client.client_id, nul)
        failed = [
            (r.request.method, str(r.request.url), r.status_code)
            for r in responses
            if r.status_code >= 500
        ]
        assert failed == []


def _forms_with(http: TestClient, client_id: str, nul: str) -> list[Any]:
    """The people-facing forms (login, forgotten password, registration) given NUL values."""
    r = http.get(authorize_url(client_id).url, follow_redirects=False)
    interaction = r.headers["location"]
    page = http.get(interaction)
    sent = [
        http.post(
            f"{interaction}/login",
            data={"username": nul, "password": nul, "csrf_token": csrf_of(page.text)},
        )
    ]
    forgot = http.get("/password/forgot")
    sent.append(
        http.post(
            "/password/forgot",
            data={"email": f"a{nul}@example.id", "csrf_token": csrf_of(forgot.text)},
        )
    )
    register = http.get("/register")
    sent.append(
        http.post(
            "/register",
            data={
                "name": nul,
                "email": f"b{nul}@example.id",
                "phone": nul,
                "password": nul * 20,
                "password_confirm": nul * 20,
                "csrf_token": csrf_of(register.text),
            },
        )
    )
    return sent
