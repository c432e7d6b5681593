"""Password hashing: the only module that imports the hash library (passlib, from libpass).

argon2id with parameters from settings (OWASP floor m=19 MiB, t=2, p=1). Hashes made with older
parameters or imported legacy schemes (bcrypt, PBKDF2) verify and are flagged for re-hashing.
Concurrent hash checks are capped per process so a login storm queues instead of exhausting
memory and starving cheap endpoints.
"""

from __future__ import annotations

import os
import threading

from passlib.context import CryptContext

from sso.config import Settings

# A fixed hash to verify against when the account does not exist, so the response takes the
# same time whether or not it does.
_DUMMY_PASSWORD = "tangsel-sso-timing-equaliser"


class PasswordHasher:
    def __init__(self, settings: Settings) -> None:
        self._context = CryptContext(
            schemes=["argon2", "bcrypt", "pbkdf2_sha256", "pbkdf2_sha512"],
            deprecated=["bcrypt", "pbkdf2_sha256", "pbkdf2_sha512"],
            argon2__type="ID",
            argon2__memory_cost=settings.argon2_memory_cost,
            argon2__rounds=settings.argon2_time_cost,
            argon2__parallelism=settings.argon2_parallelism,
        )
        limit = settings.password_check_concurrency or (os.cpu_count() or 1)
        self._slots = threading.BoundedSemaphore(limit)
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        with self._slots:
            return str(self._context.hash(password))

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """(matches, new_hash): ``new_hash`` is set when the stored hash should be upgraded."""
        with self._slots:
            try:
                ok, new_hash = self._context.verify_and_update(password, password_hash)
            except (ValueError, TypeError):
                return False, None
        return bool(ok), new_hash

    def waste_time(self, password: str) -> None:
        """Spend one hash check's time (for unknown accounts)."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hash(_DUMMY_PASSWORD)
        self.verify(password, self._dummy_hash)

    def try_acquire(self, timeout: float) -> bool:
        """For callers that prefer shedding load: wait at most ``timeout`` for a slot."""
        got = self._slots.acquire(timeout=timeout)
        if got:
            self._slots.release()
        return got
