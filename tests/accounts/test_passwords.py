"""The password hasher: argon2id checks on a few dedicated threads, capped, refused when busy."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sso.accounts.passwords import PasswordChecksBusy, PasswordHasher
from tests.conftest import OWASP_ARGON2, make_settings


class Spy:
    """Wraps passlib's context: records the thread of every check, can hold checks open."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.threads: set[str] = set()
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Semaphore(0)

    def verify_and_update(self, password: str, stored: str) -> Any:
        self.threads.add(threading.current_thread().name)
        self.started.release()
        self.release.wait(10)
        return self.inner.verify_and_update(password, stored)

    def hash(self, password: str) -> str:
        self.threads.add(threading.current_thread().name)
        return str(self.inner.hash(password))


def _hasher(tmp_path: Path, **overrides: object) -> tuple[PasswordHasher, Spy]:
    # The hasher is the subject: it runs at the production floor, not the suite's cheap setting.
    settings = make_settings(
        f"sqlite:///{tmp_path / 'p.db'}", tmp_path, **{**OWASP_ARGON2, **overrides}
    )
    hasher = PasswordHasher(settings)
    spy = Spy(hasher._context)
    hasher._context = spy
    return hasher, spy


def test_checks_run_on_the_capped_hashing_threads_only(tmp_path: Path) -> None:
    hasher, spy = _hasher(tmp_path, password_check_concurrency=2)
    stored = hasher.hash("kata sandi yang panjang")
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda i: hasher.verify("kata sandi yang panjang" if i % 2 else "salah", stored),
                range(8),
            )
        )
    assert [ok for ok, _ in results] == [i % 2 == 1 for i in range(8)]
    assert len(spy.threads) <= 2
    assert all(name.startswith("sso-argon2") for name in spy.threads), spy.threads


def test_a_malformed_stored_hash_is_a_failed_check(tmp_path: Path) -> None:
    hasher, _spy = _hasher(tmp_path)
    assert hasher.verify("apa saja", "$argon2id$v=19$rusak") == (False, None)


def test_a_check_that_cannot_start_in_time_is_refused(tmp_path: Path) -> None:
    hasher, spy = _hasher(tmp_path, password_check_concurrency=1, password_check_max_wait=0.2)
    stored = hasher.hash("kata sandi yang panjang")
    spy.release.clear()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(hasher.verify, "kata sandi yang panjang", stored)
        assert spy.started.acquire(timeout=10)  # the only slot is taken
        with pytest.raises(PasswordChecksBusy):
            hasher.verify("kata sandi yang panjang", stored)
        spy.release.set()
        assert first.result(10)[0] is True
