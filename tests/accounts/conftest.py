"""Fixtures of the account tests: the whole provider with a real SMTP server behind it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from sso.config import Settings
from sso.core.clock import FrozenClock, set_clock
from sso.web.app_runtime import AppRuntime
from tests.accounts import mailbox as smtp
from tests.conftest import make_settings, seed_signing_keys


@pytest.fixture
def mailbox() -> Iterator[smtp.Mailbox]:
    box = smtp.Mailbox()
    controller = smtp.start(box)
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def settings(
    backend: str, backend_urls: dict[str, str], tmp_path: Path, mailbox: smtp.Mailbox
) -> Settings:
    """The shared test settings, with mail going to the in-process SMTP server."""
    return make_settings(
        backend_urls[backend],
        tmp_path,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_starttls=False,
    )


@pytest.fixture
def app(runtime: AppRuntime) -> FastAPI:
    from sso.app import create_app
    from sso.web.routes import account_self_service

    seed_signing_keys(runtime)
    application = create_app(runtime.settings, runtime)
    paths = {getattr(route, "path", None) for route in application.routes}
    if "/register" not in paths:  # until sso.app.ROUTERS lists the module
        application.include_router(account_self_service.router)
    return application


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    clock = FrozenClock()
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


def rp_client(runtime: AppRuntime, db: Any, **spec: Any) -> tuple[Any, str]:
    from tests.factories import create_client

    client, secret = create_client(runtime, db, **spec)
    assert secret is not None
    return client, secret
