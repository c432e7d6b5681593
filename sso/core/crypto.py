"""Random tokens, keyed hashes, constant-time comparison and encryption at rest.

Secrets we hand out (client secrets, codes, refresh tokens, session cookies, reset links) carry a
recognisable prefix so a leaked one can be found by a scanner, and are stored only as
HMAC-SHA-256 under ``SSO_SECRET_KEY``: a stolen database alone cannot be replayed. Data we must
read back (private signing keys, NIKs) is encrypted with ``SSO_KEY_ENCRYPTION_KEY``, which is never
stored in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIXES = {
    "client_secret": "tsso_cs_",
    "code": "tsso_ac_",
    "refresh_token": "tsso_rt_",
    "session": "tsso_ss_",
    "interaction": "tsso_ia_",
    "reset": "tsso_pr_",
    "activation": "tsso_al_",
    "verify": "tsso_ev_",
    "device_code": "tsso_dc_",
    "initial_access_token": "tsso_it_",
    "registration_access_token": "tsso_rat_",
}


def random_token(kind: str | None = None, nbytes: int = 32) -> str:
    """A URL-safe random token with ``nbytes`` of entropy, prefixed by its kind."""
    prefix = PREFIXES[kind] if kind else ""
    return prefix + secrets.token_urlsafe(nbytes)


def random_id(nbytes: int = 16) -> str:
    """An opaque random identifier (not a secret on its own)."""
    return secrets.token_urlsafe(nbytes)


def keyed_hash(key: bytes, value: str, purpose: str = "") -> str:
    """HMAC-SHA-256 of ``value`` under ``key`` (domain-separated by ``purpose``), hex."""
    mac = hmac.new(key, (purpose + "\x00" + value).encode(), hashlib.sha256)
    return mac.hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)


class Encryptor:
    """Symmetric encryption at rest; accepts several keys (newest first) for key rotation."""

    def __init__(self, keys: str) -> None:
        parts = [Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()]
        self._fernet = MultiFernet(parts)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:  # wrong key: an operator problem, never user input
            raise ValueError("cannot decrypt: SSO_KEY_ENCRYPTION_KEY does not match") from exc
