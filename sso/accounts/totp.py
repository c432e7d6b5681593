"""Time-based one-time passwords (RFC 6238; HMAC-SHA-1, 6 digits, 30-second steps, the values
every authenticator app understands) and the QR code that carries the ``otpauth://`` URI.

A code is accepted for the current step and one step either side (clock drift, RFC 6238 §5.2).
:func:`matching_step` says *which* step matched, so the caller can refuse a code whose step (or a
later one) was already used: a code cannot be replayed within its validity.
"""

from __future__ import annotations

import io

import pyotp
import segno

from sso.core.clock import now
from sso.core.crypto import constant_time_equals

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
ISSUER_NAME = "Tangsel SSO"


def new_secret() -> str:
    """160 random bits, base32 (RFC 4226 §4 recommends 160)."""
    return pyotp.random_base32(length=32)


def current_step() -> int:
    return int(now().timestamp()) // STEP_SECONDS


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace() and ch != "-")


def matching_step(secret: str, code: str) -> int | None:
    """The time step whose code ``code`` is (within the drift window), else None."""
    code = normalize_code(code)
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    step = current_step()
    found: int | None = None
    # Every candidate is compared (no early exit), so timing says nothing about which matched.
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if constant_time_equals(totp.at(candidate * STEP_SECONDS), code):
            found = candidate
    return found


def provisioning_uri(secret: str, account_name: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=ISSUER_NAME
    )


def qr_svg(uri: str) -> str:
    """An inline SVG of the QR code (no external fetch, no script; CSP-safe)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out,
        kind="svg",
        scale=5,
        border=2,
        xmldecl=False,
        svgns=True,
        nl=False,
        title="QR code",
        svgclass="qr-code",
        lineclass=None,
    )
    return out.getvalue().decode()


def grouped(secret: str) -> str:
    """The manual key in groups of four for typing."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
