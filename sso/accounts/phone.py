"""Phone numbers: parsed with Google's libphonenumber (``phonenumbers``) and stored in E.164.

A number typed the Indonesian way (``0812-3456-7890``, ``812 3456 7890``, ``62812…``) is read
as Indonesian (region ``ID``: ``0812…`` means ``+62812…``); one written with ``+`` or ``00`` is
read with its own country code. Only numbers libphonenumber calls *valid* (a real numbering
plan range) are stored, so ``+6200000000`` or a landline typed as mobile is refused early.

Where a code may be sent is narrower than what may be stored: :func:`sendable` refuses numbers
outside ``SSO_PHONE_ALLOWED_REGIONS`` (default ``ID``) and anything that cannot receive a
message (fixed lines, premium-rate and shared-cost numbers, the ranges SMS pumping uses).
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from sso.core.errors import InvalidInput

DEFAULT_REGION = "ID"
MAX_INPUT = 40
# Number types that can receive WhatsApp and SMS. FIXED_LINE_OR_MOBILE is what
# libphonenumber answers for countries whose ranges do not tell the two apart (e.g. the US).
RECEIVES_MESSAGES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def _invalid() -> InvalidInput:
    return InvalidInput("error.phone_invalid", detail="not a phone number")


def parse(raw: str) -> phonenumbers.PhoneNumber:
    """The number ``raw`` names (InvalidInput when it names none)."""
    value = unicodedata.normalize("NFKC", raw or "").strip()
    if not value or len(value) > MAX_INPUT:
        raise _invalid()
    compact = re.sub(r"[\s().\-]", "", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]  # the international prefix most phones accept
    elif compact.startswith("62"):
        compact = "+" + compact  # "6281234567890": the country code without its plus
    try:
        number = phonenumbers.parse(compact, DEFAULT_REGION)
    except NumberParseException:
        raise _invalid() from None
    if not phonenumbers.is_valid_number(number):
        raise _invalid()
    return number


def normalize(raw: str) -> str:
    """The number in E.164 (``0812-3456-7890`` → ``+6281234567890``); InvalidInput if none."""
    return phonenumbers.format_number(parse(raw), phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone(raw: str) -> bool:
    """Whether a login identifier was meant as a phone number (digits, spaces, ``+ - ( )``)."""
    value = (raw or "").strip()
    return bool(re.fullmatch(r"\+?[\d\s().\-]{8,20}", value))


def region_of(e164: str) -> str | None:
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))


def sendable(e164: str, allowed_regions: frozenset[str]) -> bool:
    """Whether codes may be sent to this number: a mobile number of an allowed country."""
    number = phonenumbers.parse(e164, None)
    region = phonenumbers.region_code_for_number(number)
    if allowed_regions and region not in allowed_regions:
        return False
    return phonenumbers.number_type(number) in RECEIVES_MESSAGES


def prefix(e164: str, digits: int) -> str:
    """The number's range for the per-prefix sending limit: the country code and the first
    ``digits`` digits of the national number (``+62812345…`` with 4 → ``+62-8123``). SMS
    pumping sends to many numbers of one range an accomplice is paid for."""
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    return f"+{number.country_code}-{national[:digits]}"


def masked(e164: str) -> str:
    """For a page that must not repeat the whole number: ``+62 812-****-7890``."""
    if len(e164) < 8:
        return "****"
    return f"{e164[:6]}****{e164[-4:]}"
