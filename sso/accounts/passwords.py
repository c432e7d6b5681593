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

Memory and CPU: the checks run only in this process's own hashing threads (as many as the
cap), never in the request threads. So at most ``cap`` malloc arenas ever hold an argon2
buffer, and each keeps one 19 MiB block that the next check reuses with its pages already
mapped. (Handing the block back to the OS after every check, as an earlier version did with
``mallopt(M_MMAP_THRESHOLD)``, made the kernel map and zero 19 MiB per check: ~12 ms more CPU
per login than the hash itself, bench/README.md "Third round".)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from passlib.context import CryptContext

from sso.config import Settings
from sso.core.errors import ServiceUnavailable
from sso.core.pools import ThreadPool

log = logging.getLogger("sso.passwords")

# A fixed hash to verify against when the account does not exist, so the response takes the
# same time whether or not it does.
_DUMMY_PASSWORD = "tangsel-sso-timing-equaliser"
# Seconds a refused caller is asked to wait before trying again.
BUSY_RETRY_AFTER = 2
T = TypeVar("T")


class PasswordChecksBusy(ServiceUnavailable):
    """Too many password checks in flight in this process: try again in a moment."""

    retry_after = BUSY_RETRY_AFTER

    def __init__(self, detail: str) -> None:
        super().__init__("error.service_unavailable", detail=detail)


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
        self._threads = ThreadPool(self.concurrency, "sso-argon2")

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self.max_wait):
            raise PasswordChecksBusy(f"no password check slot within {self.max_wait} s")
        try:
            yield
        finally:
            self._slots.release()

    def _run(self, work: Callable[[], T]) -> T:
        """``work()`` in a slot, on one of the hashing threads (made in this process: a pool
        inherited through fork has no threads)."""
        with self._slot():
            return self._threads.submit(work).result()

    def close(self) -> None:
        """Stop the hashing threads (the application's shutdown); a later check starts them
        again."""
        self._threads.shutdown(wait=True)

    # ------------------------------------------------------------------ hashing
    def hash(self, password: str) -> str:
        return self._run(lambda: str(self._context.hash(password)))

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """(matches, new_hash): ``new_hash`` is set when the stored hash should be upgraded."""

        def check() -> tuple[bool, str | None]:
            try:
                ok, new_hash = self._context.verify_and_update(password, password_hash)
            except (ValueError, TypeError):
                return False, None
            return bool(ok), new_hash

        return self._run(check)

    def waste_time(self, password: str) -> None:
        """Spend one hash check's time (for unknown accounts)."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hash(_DUMMY_PASSWORD)
        self.verify(password, self._dummy_hash)
