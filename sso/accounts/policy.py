"""The password policy, after NIST SP 800-63B §3.1.1.2 (memorized secrets).

- at least 8 characters (12 for OPD staff, whose accounts reach more), at most 128;
- any characters, spaces and emoji included, and no composition rules ("one digit, one symbol"):
  they push people to predictable patterns and do not make passwords harder to guess;
- refused when it is one of the most common passwords (an offline list of 100,000 shipped in
  ``data/``, no network lookup), compared case-insensitively, so ``Password1`` fails like
  ``password1``;
- refused when it contains the person's username, the local part of their email, or their NIP
  (case-insensitively; identifiers shorter than 3 characters are ignored, they would refuse
  half of every dictionary).

A refusal is a catalogue key (translated by the web layer in the person's language) with its
parameters: ``password.too_short`` {min}, ``password.too_long`` {max}, ``password.common``,
``password.contains_identifier``. Length counts Unicode code points, as NIST asks.
"""

from __future__ import annotations

import gzip
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sso.core.errors import InvalidInput

MIN_LENGTH = 8
MIN_LENGTH_STAFF = 12
MAX_LENGTH = 128
MIN_IDENTIFIER_LENGTH = 3
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"

_DETAILS = {
    "password.too_short": "password is shorter than {min} characters",
    "password.too_long": "password is longer than {max} characters",
    "password.common": "password is one of the most common passwords",
    "password.contains_identifier": "password contains the username or email",
}


@dataclass(frozen=True)
class Refusal:
    """Why a password is refused: a catalogue key and its parameters."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def detail(self) -> str:
        """The reason in English, for operators (CLI, logs): never the password itself."""
        return _DETAILS[self.key].format(**self.params)


class PasswordRefused(InvalidInput):
    """A password the policy does not accept (``message`` is the catalogue key)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.key, detail=refusal.detail(), **refusal.params)
        self.refusal = refusal


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list, loaded once per process (about 10 MB of memory)."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as handle:
        return frozenset(line.rstrip("\n") for line in handle if line.strip())


def min_length(kind: str) -> int:
    return MIN_LENGTH_STAFF if kind == "staff" else MIN_LENGTH


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def identifiers_of(
    username: str | None = None, email: str | None = None, nip: str | None = None
) -> list[str]:
    """The parts of a person's identity a password must not contain."""
    found = []
    if username:
        found.append(username)
    if email:
        found.append(email.rsplit("@", 1)[0])
    if nip:
        found.append(nip)
    return found


def check(
    password: str, *, kind: str = "citizen", identifiers: Iterable[str] = ()
) -> Refusal | None:
    """None when ``password`` is acceptable for a person of ``kind``, else the first reason."""
    length = len(password)
    minimum = min_length(kind)
    if length < minimum:
        return Refusal("password.too_short", {"min": minimum})
    if length > MAX_LENGTH:
        return Refusal("password.too_long", {"max": MAX_LENGTH})
    folded = _fold(password)
    common = common_passwords()
    if folded in common or folded.strip() in common:
        return Refusal("password.common")
    for identifier in identifiers:
        part = _fold(identifier).strip()
        if len(part) >= MIN_IDENTIFIER_LENGTH and part in folded:
            return Refusal("password.contains_identifier")
    return None


def enforce(password: str, *, kind: str = "citizen", identifiers: Iterable[str] = ()) -> None:
    """Raise :class:`PasswordRefused` unless ``password`` passes :func:`check`."""
    refusal = check(password, kind=kind, identifiers=identifiers)
    if refusal is not None:
        raise PasswordRefused(refusal)
