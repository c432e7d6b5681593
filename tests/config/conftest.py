"""The ``sso`` fixture: the command line against the test database, with the secrets the
seeded clients' ${ENV_NAME} references name."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from sso.cli import app as cli
from sso.runtime import Runtime
from tests.config.helpers import EVENT_SECRET, PORTAL_SECRET, Run


@pytest.fixture
def sso(runtime: Runtime) -> Run:
    s = runtime.settings
    assert s.secret_key is not None and s.key_encryption_key is not None
    env = {
        "SSO_ENV": "test",
        "SSO_DATABASE_URL": s.database_url,
        "SSO_SECRET_KEY": s.secret_key.get_secret_value(),
        "SSO_KEY_ENCRYPTION_KEY": s.key_encryption_key.get_secret_value(),
        "SSO_ISSUER": s.issuer,
        "SSO_VAR_DIR": str(s.var_dir),
        "CLIENT_SECRET_PORTAL_SATU_DATA": PORTAL_SECRET,
        "CLIENT_SECRET_EVENT": EVENT_SECRET,
    }
    runner = CliRunner()

    def run(*args: str, extra_env: dict[str, str | None] | None = None) -> Result:
        return runner.invoke(
            cli, list(args), env={**env, **(extra_env or {})}, catch_exceptions=False
        )

    return run
