"""Password hashing: the only module that imports the hash library (passlib, from libpass).

argon2id with parameters from settings (OWASP floor m=19 MiB, t=2, p=1). Hashes made with older
parameters or imported legacy schemes (bcrypt, PBKDF2) verify and are flagged for re-hashing.

Load: one argon2id check costs ~20-50 ms of CPU and 19 MiB of memory, so a login storm is
the cheapest way to knock the provider over. Two bounds keep it standing:

- a per-process cap on concurrent checks (``password_check_concurrency``, default the number
  of cores): the rest wait in line rather than thrash the CPU and memory;
- a bounded line: the web layer (:mod:`sso.web.load_shedding`) makes requests that will hash
  wait for their turn on the event loop, before they take a thread or a database connection,
  and refuses at once beyond ``password_check_queue`` waiting or ``password_check_max_wait``
  seconds; here, a check that still cannot start within ``password_check_max_wait`` is refused
  too (:class:`PasswordChecksBusy`). Refusals are 503 with ``Retry-After``: a fast, honest
  "try again" instead of a timeout, while cheap endpoints (JWKS, discovery, token refresh) keep
  their threads.

The 19 MiB buffers are handed back to the OS after each check (glibc only, see
:func:`_release_large_buffers`), so a storm does not leave every pool thread's malloc arena
holding one (bench/README.md §6).
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from passlib.context import CryptContext

from sso.config import Settings
from sso.core.errors import ServiceUnavailable

log = logging.getLogger("sso.passwords")

# A fixed hash to verify against when the account does not exist, so the response takes the
# same time whether or not it does.
_DUMMY_PASSWORD = "tangsel-sso-timing-equaliser"
# Seconds a refused caller is asked to wait before trying again.
BUSY_RETRY_AFTER = 2
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_MMAP_THRESHOLD = 1024 * 1024
_malloc_tuned = False


class PasswordChecksBusy(ServiceUnavailable):
    """Too many password checks in flight in this process: try again in a moment."""

    retry_after = BUSY_RETRY_AFTER

    def __init__(self, detail: str) -> None:
        super().__init__("error.service_unavailable", detail=detail)


def _release_large_buffers() -> None:
    """Serve allocations of 1 MiB and more with mmap, returned to the OS on free.

    glibc otherwise raises its mmap threshold after the first large free, and later argon2
    buffers come from per-thread arenas that keep the memory (one per pool thread). The same
    as ``MALLOC_MMAP_THRESHOLD_=1048576`` in the environment, but set once per process here so
    it holds however the provider is started. A no-op where ``mallopt`` does not exist."""
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    if not mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD):
        log.info("mallopt(M_MMAP_THRESHOLD) refused; argon2 buffers stay in malloc arenas")


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
        self.concurrency = settings.password_check_concurrency or (os.cpu_count() or 1)
        self.max_wait = settings.password_check_max_wait
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._dummy_hash: str | None = None
        _release_large_buffers()

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self.max_wait):
            raise PasswordChecksBusy(f"no password check slot within {self.max_wait} s")
        try:
            yield
        finally:
            self._slots.release()

    # ------------------------------------------------------------------ hashing
    def hash(self, password: str) -> str:
        with self._slot():
            return str(self._context.hash(password))

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """(matches, new_hash): ``new_hash`` is set when the stored hash should be upgraded."""
        with self._slot():
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
