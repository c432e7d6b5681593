"""NIP and NIK validation: every refusal names what is wrong, in both languages."""

from __future__ import annotations

import pytest

from sso.accounts.identifiers import mask_nik, validate_nik, validate_nip
from sso.core.errors import InvalidInput
from sso.web.i18n import catalogue, translate


@pytest.mark.parametrize(
    ("nip", "key"),
    [
        ("12345", "error.nip_shape"),
        ("19850312201001100X", "error.nip_shape"),
        ("198513122010011001", "error.nip_birth_date"),  # month 13
        ("198502302010011001", "error.nip_birth_date"),  # 30 February
        ("198503121995011001", "error.nip_service_start"),  # started at ten
        ("198503122010131001", "error.nip_service_start"),  # month 13
        ("198503122010013001", "error.nip_gender"),
    ],
)
def test_bad_nip_is_explained(nip: str, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_nip(nip)
    assert caught.value.message == key
    assert translate("id", key) != key and translate("en", key) != key


def test_good_nip_with_spaces() -> None:
    assert validate_nip("19850312 201001 1 001") == "198503122010011001"


@pytest.mark.parametrize(
    ("nik", "key"),
    [
        ("367401", "error.nik_shape"),
        ("0974011203850001", "error.nik_region"),
        ("3600011203850001", "error.nik_region"),
        ("3674013213850001", "error.nik_birth_date"),  # month 13
        ("3674017202850001", "error.nik_birth_date"),  # a woman born on 32 February
        ("3674011203850000", "error.nik_serial"),
    ],
)
def test_bad_nik_is_explained(nik: str, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_nik(nik)
    assert caught.value.message == key
    assert translate("id", key) != key and translate("en", key) != key


def test_good_niks_men_and_women() -> None:
    assert validate_nik("3674011203850001") == "3674011203850001"
    assert validate_nik("3674015203850002") == "3674015203850002"  # day 12 + 40
    assert mask_nik("3674011203850001") == "3674**********01"


def test_every_identifier_error_has_text_in_both_languages() -> None:
    keys = [k for k in catalogue("id") if k.startswith(("error.nip_", "error.nik_"))]
    assert len(keys) == 8
    for key in keys:
        assert catalogue("id")[key] != catalogue("en")[key]
