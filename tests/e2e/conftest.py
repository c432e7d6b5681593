"""A live provider (uvicorn on a free loopback port) and headless Chromium driven by Playwright.

Chromium is Debian's (``/usr/bin/chromium``); Playwright never downloads a browser here. When
Chromium is missing the browser tests are skipped with the reason (``make test`` installs it)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from sso.app import create_app
from sso.runtime import Runtime
from sso.web.app_runtime import build_app_runtime
from tests.conftest import _empty_all_tables, make_settings, seed_signing_keys

CHROMIUM = os.environ.get("SSO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    runtime: Runtime


@pytest.fixture
def live_settings() -> dict[str, object]:
    """Settings of the live server beyond the defaults (a module may override this fixture,
    e.g. to point the mailer at a test SMTP server)."""
    return {}


@pytest.fixture
def live_server(
    backend: str, backend_urls: dict[str, str], tmp_path: Path, live_settings: dict[str, object]
) -> Iterator[LiveServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(backend_urls[backend], tmp_path, issuer=url, **live_settings)
    runtime = build_app_runtime(settings)
    _empty_all_tables(runtime)
    seed_signing_keys(runtime)
    app = create_app(settings, runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    yield LiveServer(url, runtime)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(locale="id-ID")  # type: ignore[attr-defined]
    pg = context.new_page()
    yield pg
    context.close()
