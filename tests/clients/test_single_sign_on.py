"""Single sign-on and single logout across the three relying parties, in headless Chromium.

A citizen logs in at the event site with a password, then opens the data portal and the
hotspot portal: both log them in through the provider without showing a single page of it.
Logging out at the event site (RP-initiated logout) ends the session at the provider, and the
provider's back-channel logout tokens end the sessions at the portal and the hotspot.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.clients.conftest import PASSWORD, RP, City, Provider, build_city
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.async_api import Page as AsyncPage
    from playwright.async_api import Response as AsyncResponse

pytestmark = pytest.mark.browser


def in_chromium(scenario: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``scenario(browser)`` with Playwright's async API on a thread of its own.

    Not the session-wide ``browser`` fixture of tests/e2e: a second copy of it (a conftest
    here importing it) would start a second sync Playwright in the same thread while the
    first is alive, which Playwright refuses. A thread with its own event loop is independent
    of whichever sync Playwright the rest of the suite keeps open.
    """
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.async_api import async_playwright

    failure: list[BaseException] = []

    async def main() -> None:
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                await scenario(browser)
            finally:
                await browser.close()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 (re-raised in the test's thread)
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the browser scenario did not finish"
    if failure:
        raise failure[0]


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


@pytest.fixture(scope="module")
def city(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    city = build_city(provider, tmp_path_factory.mktemp("city"))
    provider.user("siti", name="Siti Rahayu")
    from hotspot import service
    from tangsel_rp.db import transaction

    with transaction(city.hotspot.toolkit.sessions) as db:
        service.add_location(db, "TSL-0001", "Taman Kota 1", 0)
    yield city
    city.stop()


def provider_pages(page: AsyncPage, provider_url: str) -> list[str]:
    """Record every document the provider answered with a page (not a redirect)."""
    shown: list[str] = []

    def on_response(response: AsyncResponse) -> None:
        if (
            response.request.resource_type == "document"
            and response.url.startswith(provider_url)
            and response.status == 200
        ):
            shown.append(response.url)

    page.on("response", on_response)
    return shown


def sessions_of(rp: RP, sub: str) -> int:
    from sqlalchemy import func, select
    from tangsel_rp.db import transaction
    from tangsel_rp.sessions import SessionRecord

    with transaction(rp.toolkit.sessions) as db:
        count = db.scalar(
            select(func.count()).select_from(SessionRecord).where(SessionRecord.sub == sub)
        )
        assert count is not None
        return int(count)


def test_log_in_once_use_three_apps_log_out_everywhere(city: City) -> None:
    provider = city.provider
    sub = provider.user_id("siti")

    async def scenario(browser: Any) -> None:
        context = await browser.new_context(locale="id-ID")
        page = await context.new_page()
        shown = provider_pages(page, provider.url)

        # 1. The event site: the provider's login form, once.
        await page.goto(f"{city.event.url}/")
        assert await page.locator("html").get_attribute("lang") == "id"
        await page.click("#login")
        await page.wait_for_selector("input[name=password]")
        await page.fill("input[name=username]", "siti")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit], input[type=submit]")
        await page.wait_for_url(f"{city.event.url}/**")
        assert "Siti Rahayu" in await page.locator("#signed-in").inner_text()
        assert len(shown) == 1  # the login page and nothing else (trusted client: no consent)

        # 2. The data portal: straight back, logged in, no provider page at all.
        await page.goto(f"{city.portal.url}/")
        await page.click("#login")
        await page.wait_for_url(f"{city.portal.url}/**")
        await page.wait_for_selector("#signed-in")
        assert "Siti Rahayu" in await page.locator("#signed-in").inner_text()

        # 3. The hotspot portal, as the access point sends the phone there.
        await page.goto(
            f"{city.hotspot.url}/?location=TSL-0001&mac=aa-bb-cc-dd-ee-01&url=http://example.com/"
        )
        await page.click("#portal-login")
        await page.wait_for_url(f"{city.hotspot.url}/status**")
        await page.click("#connect")
        await page.wait_for_selector("#online")
        assert len(shown) == 1, f"the provider showed pages again: {shown}"
        assert sessions_of(city.portal, sub) == 1 and sessions_of(city.hotspot, sub) == 1

        # 4. Log out at the event site: RP-initiated logout, back with our state.
        await page.goto(f"{city.event.url}/")
        await page.click("#logout")
        await page.wait_for_url(f"{city.event.url}/logged-out**")
        assert await page.locator("#logged-out").count() == 1
        assert "state=" in page.url

        # 5. Back-channel logout ended the sessions at the portal and the hotspot.
        assert await eventually(lambda: sessions_of(city.portal, sub) == 0), "portal still in"
        assert await eventually(lambda: sessions_of(city.hotspot, sub) == 0), "hotspot still in"
        for url in (f"{city.portal.url}/", f"{city.hotspot.url}/status"):
            await page.goto(url)
            assert await page.locator("#signed-in").count() == 0
        # ... and the provider asks for the password again.
        await page.goto(f"{city.portal.url}/login")
        await page.wait_for_selector("input[name=password]")
        await context.close()

    in_chromium(scenario)


def test_pages_work_without_javascript_in_english(city: City) -> None:
    async def scenario(browser: Any) -> None:
        context = await browser.new_context(java_script_enabled=False, locale="en-US")
        page = await context.new_page()
        await page.goto(f"{city.hotspot.url}/?location=TSL-0001&mac=AA:BB:CC:DD:EE:02")
        assert await page.locator("html").get_attribute("lang") == "en"
        assert "Welcome to the public Wi-Fi" in await page.content()
        await page.click("#portal-login")
        await page.fill("input[name=username]", "siti")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit], input[type=submit]")
        await page.wait_for_url(f"{city.hotspot.url}/status**")
        await page.click("#connect")
        assert await page.locator("#online").count() == 1
        await page.click("#logout")
        await page.wait_for_url(f"{city.hotspot.url}/logged-out**")
        assert "You are logged out" in await page.content()
        await context.close()

    in_chromium(scenario)
