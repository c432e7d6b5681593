from __future__ import annotations

import re
import string

import pytest
from starlette.requests import Request

from sso.web.i18n import (
    CATALOGUE_DIR,
    SUPPORTED,
    catalogue,
    negotiate_locale,
    parse_accept_language,
    translate,
)
from sso.web.templating import TEMPLATE_DIRS


def make_request(query: str = "", headers: dict[str, str] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "query_string": query.encode(), "headers": raw})


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogues_have_the_same_keys() -> None:
    files = {p.name for p in CATALOGUE_DIR.glob("*.json")}
    assert {f"{locale}.json" for locale in SUPPORTED} <= files
    for name in files:  # every feature part exists in every language
        locale, _, rest = name.partition(".")
        assert locale in SUPPORTED, name
        assert {f"{other}.{rest}" for other in SUPPORTED} <= files, name
    assert set(catalogue("id")) == set(catalogue("en"))


def test_catalogues_use_the_same_placeholders_and_no_empty_text() -> None:
    for key, text in catalogue("id").items():
        assert text.strip() and catalogue("en")[key].strip(), key
        assert placeholders(text) == placeholders(catalogue("en")[key]), key


def test_every_key_the_templates_use_exists() -> None:
    used: set[str] = set()
    for template in (t for d in TEMPLATE_DIRS for t in d.rglob("*.html")):
        used |= set(re.findall(r"_\('([a-z0-9_.]+)'", template.read_text()))
    assert used, "no keys found: the pattern is out of date"
    known = set(catalogue("id"))
    # `_('developers.kind.' ~ kind)`: a prefix completed at render time; some key must start so.
    prefixes = {key for key in used if key.endswith(".")}
    assert {p for p in prefixes if not any(k.startswith(p) for k in known)} == set()
    assert used - prefixes - known == set()


def test_required_keys_and_their_indonesian_text() -> None:
    ids = catalogue("id")
    assert ids["login.username_label"] == "Nama pengguna, email, atau NIP"
    assert ids["error.csrf"] == "Formulir kedaluwarsa atau tidak sah. Silakan coba lagi."
    assert ids["app.tagline"] == "Satu akun untuk layanan Kota Tangerang Selatan"
    for key in ("openid", "profile", "email", "phone", "opd", "offline_access", "nik", "roles"):
        assert f"scope.{key}" in ids


def test_translate_fills_params_and_falls_back_to_the_key() -> None:
    assert translate("id", "login.for_client", client="Portal") == (
        "Masuk untuk melanjutkan ke Portal"
    )
    assert translate("en", "login.for_client", client="Portal") == "Sign in to continue to Portal"
    assert translate("en", "no.such.key") == "no.such.key"
    assert translate("en", "Plain {text} with {0} braces", other=1) == (
        "Plain {text} with {0} braces"
    )
    assert translate("fr", "consent.allow") == "Izinkan"  # unknown locale: the default


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9", ["en"]),
        ("id-ID,id;q=0.9,en-US;q=0.8,en;q=0.7", ["id", "en"]),
        ("fr-FR, en;q=0.5, id;q=0.6", ["id", "en"]),
        ("in", ["id"]),
        ("en;q=0, id", ["id"]),
        ("de, *;q=0.1", []),
        ("en;q=bogus, id;q=0.2", ["id"]),
        ("", []),
    ],
)
def test_accept_language(header: str, expected: list[str]) -> None:
    assert parse_accept_language(header) == expected


def test_negotiation_order() -> None:
    assert negotiate_locale(make_request()) == "id"
    assert negotiate_locale(make_request(), default="en") == "en"
    assert negotiate_locale(make_request(headers={"Accept-Language": "en-GB"})) == "en"
    assert negotiate_locale(make_request(headers={"Cookie": "lang=en"})) == "en"
    cookie_and_header = make_request(headers={"Cookie": "lang=id", "Accept-Language": "en"})
    assert negotiate_locale(cookie_and_header) == "id"
    assert negotiate_locale(cookie_and_header, ui_locales="fr-CA en-US") == "en"
    assert negotiate_locale(make_request(headers={"Cookie": "lang=xx"})) == "id"
    # The person's own click beats the relying party's hint.
    assert negotiate_locale(make_request("lang=id"), ui_locales="en") == "id"
    assert negotiate_locale(make_request("lang=klingon"), ui_locales="en") == "en"
