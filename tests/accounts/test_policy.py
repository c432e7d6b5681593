"""The password policy (NIST SP 800-63B) as a unit, and the shipped list of common passwords."""

from __future__ import annotations

import pytest

from sso.accounts import policy
from sso.web.i18n import translate


def reason(password: str, kind: str = "citizen", *identifiers: str) -> str | None:
    refusal = policy.check(password, kind=kind, identifiers=identifiers)
    return refusal.key if refusal else None


def test_the_list_holds_at_least_100000_common_passwords() -> None:
    common = policy.common_passwords()
    assert len(common) >= 100_000
    assert {"password", "iloveyou", "12345678", "qwertyuiop", "password123"} <= common
    assert all(8 <= len(p) <= 128 and p == p.casefold() for p in common)
    assert policy.common_passwords() is common  # loaded once


@pytest.mark.parametrize(
    ("password", "kind", "expected"),
    [
        ("1234567", "citizen", "password.too_short"),
        ("tujuh k", "citizen", "password.too_short"),
        ("delapan!", "citizen", None),
        ("sebelas kar", "staff", "password.too_short"),
        ("dua belas ka", "staff", None),
        ("a" * 127 + "b", "citizen", None),
        ("a" * 128 + "b", "citizen", "password.too_long"),
        ("PASSWORD", "citizen", "password.common"),
        ("PasswordPassword", "staff", "password.common"),
        (" iloveyou ", "citizen", "password.common"),
        ("  spasi di awal dan akhir  ", "citizen", None),
        ("🔐🔐 kunci rumah 🔐🔐", "citizen", None),
        ("rumahku", "citizen", "password.too_short"),
    ],
)
def test_length_and_common_passwords(password: str, kind: str, expected: str | None) -> None:
    assert reason(password, kind) == expected


def test_length_counts_characters_not_bytes() -> None:
    assert reason("ééééééé") == "password.too_short"  # 7 characters, 14 bytes
    assert reason("éééééééé") is None


def test_no_composition_rules() -> None:
    for password in ("semua huruf kecil", "ONLYCAPITALSHERE", "9182736450918273", "!@#$%^&*()_+}{"):
        assert reason(password) is None, password


def test_identifiers_are_refused_case_insensitively() -> None:
    ids = policy.identifiers_of("siti.aminah", "Siti.Aminah@Example.id", None)
    assert ids == ["siti.aminah", "Siti.Aminah"]
    assert reason("my SITI.AMINAH pass", "citizen", *ids) == "password.contains_identifier"
    assert reason("siti aminah rumah", "citizen", *ids) is None  # not the identifier itself
    nip = "198503122010011001"
    assert reason(f"x{nip}x", "staff", *policy.identifiers_of("budi", None, nip)) == (
        "password.contains_identifier"
    )


def test_identifiers_shorter_than_three_characters_are_ignored() -> None:
    assert reason("the ab of passwords", "citizen", "ab") is None
    assert reason("the abc of passwords", "citizen", "abc") == "password.contains_identifier"


def test_the_inputs_other_tests_use_pass() -> None:
    assert reason("correct horse battery staple", "staff", "siti", "siti") is None
    assert reason("a long staff password", "staff", "budi", "Budi") is None
    assert reason("password one two", "citizen", "ani", "ani") is None


def test_refusals_are_explained_in_both_languages() -> None:
    short = policy.check("pendek", kind="staff")
    assert short is not None and short.params == {"min": 12}
    assert translate("id", short.key, **short.params) == (
        "Kata sandi terlalu pendek: minimal 12 karakter."
    )
    assert translate("en", short.key, **short.params) == (
        "The password is too short: at least 12 characters."
    )
    for key in ("password.too_long", "password.common", "password.contains_identifier"):
        assert translate("id", key) != key and translate("en", key) != key
        assert translate("id", key) != translate("en", key)


def test_enforce_raises_with_an_operator_detail_that_never_holds_the_password() -> None:
    with pytest.raises(policy.PasswordRefused) as caught:
        policy.enforce("iloveyou123", kind="staff")
    assert caught.value.message == "password.too_short"
    assert caught.value.params == {"min": 12}
    assert caught.value.detail == "password is shorter than 12 characters"
    with pytest.raises(policy.PasswordRefused) as caught:
        policy.enforce("sunshine", kind="citizen")
    assert caught.value.message == "password.common"
    assert "sunshine" not in (caught.value.detail or "")
