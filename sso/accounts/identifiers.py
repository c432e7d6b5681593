"""Normalisation and validation of login identifiers.

Usernames are NFKC-normalised and case-folded, and limited to one script (Latin letters, digits
and ``._-``) so that visually confusable names cannot coexist. Email is compared case-folded.
NIP (Nomor Induk Pegawai, 18 digits) and NIK (Nomor Induk Kependudukan, 16 digits) are checked
for shape and for the real dates they encode.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from sso.core.errors import InvalidInput

_USERNAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{1,62}[a-z0-9])?$")
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s.]{2,63}$")


def normalize_username(raw: str) -> str:
    value = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not _USERNAME_RE.fullmatch(value) or ".." in value:
        raise InvalidInput(
            "error.username_invalid",
            detail="username must be 3-64 of a-z 0-9 . _ - (starting and ending alphanumeric)",
        )
    return value


def normalize_email(raw: str) -> str:
    value = unicodedata.normalize("NFKC", raw).strip()
    if not _EMAIL_RE.fullmatch(value) or not value.isprintable():
        raise InvalidInput("error.email_invalid", detail=f"not an email address: {raw!r}")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain}".casefold()


def normalize_login(raw: str) -> str:
    """Normalise what a person typed in the login box (username, email or NIP)."""
    return unicodedata.normalize("NFKC", raw).strip().casefold()


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def validate_nip(raw: str) -> str:
    """Return the NIP if valid; raise InvalidInput explaining what is wrong."""
    nip = re.sub(r"\s", "", raw)
    if not re.fullmatch(r"[0-9]{18}", nip):  # ASCII digits only (\d would allow ١٢٣…)
        raise InvalidInput("error.nip_shape", detail="a NIP is exactly 18 digits")
    year, month, day = int(nip[0:4]), int(nip[4:6]), int(nip[6:8])
    if not _real_date(year, month, day) or year < 1900:
        raise InvalidInput(
            "error.nip_birth_date", detail="NIP digits 1-8 are not a real birth date"
        )
    start_year, start_month = int(nip[8:12]), int(nip[12:14])
    if not (1 <= start_month <= 12) or start_year < year + 15:
        raise InvalidInput(
            "error.nip_service_start", detail="NIP digits 9-14 are not a plausible start of service"
        )
    if nip[14] not in "12":
        raise InvalidInput("error.nip_gender", detail="NIP digit 15 (gender) must be 1 or 2")
    return nip


def validate_nik(raw: str) -> str:
    nik = re.sub(r"\s", "", raw)
    if not re.fullmatch(r"[0-9]{16}", nik):
        raise InvalidInput("error.nik_shape", detail="a NIK is exactly 16 digits")
    province = int(nik[0:2])
    if not 11 <= province <= 99 or nik[2:4] == "00" or nik[4:6] == "00":
        raise InvalidInput("error.nik_region", detail="NIK digits 1-6 are not a region code")
    day, month, year2 = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if day > 40:
        day -= 40
    if not (_real_date(2000 + year2, month, day) or _real_date(1900 + year2, month, day)):
        raise InvalidInput("error.nik_birth_date", detail="NIK digits 7-12 are not a birth date")
    if nik[12:16] == "0000":
        raise InvalidInput("error.nik_serial", detail="NIK serial must not be 0000")
    return nik


def mask_nik(nik: str) -> str:
    return nik[:4] + "*" * 10 + nik[-2:]
