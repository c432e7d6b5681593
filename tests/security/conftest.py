"""Fixtures of the security tests: the provider served over https (issuer ``https://…``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sso.config import Settings
from sso.web.app_runtime import AppRuntime, build_app_runtime
from tests.conftest import _empty_all_tables, make_settings, seed_signing_keys

HTTPS_ISSUER = "https://testserver"


def postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("real parallel connections: PostgreSQL only")


@pytest.fixture
def https_settings(backend: str, backend_urls: dict[str, str], tmp_path: Path) -> Settings:
    return make_settings(backend_urls[backend], tmp_path, issuer=HTTPS_ISSUER)


@pytest.fixture
def https_runtime(https_settings: Settings) -> Iterator[AppRuntime]:
    rt = build_app_runtime(https_settings)
    _empty_all_tables(rt)
    yield rt
    rt.dispose()


@pytest.fixture
def https_app(https_runtime: AppRuntime) -> FastAPI:
    from sso.app import create_app

    seed_signing_keys(https_runtime)
    return create_app(https_runtime.settings, https_runtime)


@pytest.fixture
def https(https_app: FastAPI) -> Iterator[TestClient]:
    """A browser talking to the provider over https (Secure cookies are sent back)."""
    with TestClient(https_app, base_url=HTTPS_ISSUER) as client:
        yield client
