"""The argon2id floor: production and dev refuse parameters below OWASP's; only the test suite
(env "test") may hash cheaply, and what it hashes still verifies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sso.accounts.passwords import PasswordHasher
from sso.config import ConfigError, Settings
from tests.conftest import CHEAP_ARGON2, OWASP_ARGON2, make_settings

PROD = {
    "env": "prod",
    "issuer": "https://sso.tangsel.example.id",
    "database_url": "postgresql+psycopg://sso@db/sso",
    "secret_key": "a-production-secret-key-of-enough-length-0123456789",
    "key_encryption_key": "kPd6T0mYbq5bQ2o2tX8Yf0Ck3kG9cQ8o7J1s2T4u5V0=",
}


@pytest.mark.parametrize("env", ["prod", "dev"])
@pytest.mark.parametrize(
    "params",
    [CHEAP_ARGON2, {"argon2_memory_cost": 19455}, {"argon2_time_cost": 1}],
    ids=["cheap", "memory-below", "time-below"],
)
def test_below_the_floor_is_refused_outside_tests(
    env: str, params: dict[str, object], tmp_path: Path
) -> None:
    values: dict[str, Any] = {**PROD, "env": env, "var_dir": tmp_path, **params}
    with pytest.raises(ConfigError, match="below OWASP's floor"):
        Settings(**values).finalize()


def test_the_floor_itself_is_accepted_in_prod(tmp_path: Path) -> None:
    values: dict[str, Any] = {**PROD, "var_dir": tmp_path, **OWASP_ARGON2}
    settings = Settings(**values).finalize()
    assert (settings.argon2_memory_cost, settings.argon2_time_cost) == (19456, 2)


def test_the_test_suite_hashes_cheaply_and_still_verifies(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    assert settings.env == "test" and settings.argon2_memory_cost < 19456
    hasher = PasswordHasher(settings)
    stored = hasher.hash("kata sandi yang panjang")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,")
    assert hasher.verify("kata sandi yang panjang", stored)[0] is True
    assert hasher.verify("salah", stored)[0] is False
