"""The three demo apps share one stylesheet (served by the tangsel_rp toolkit, no inline style,
so their CSP needs no 'unsafe-inline') and do not scroll sideways on a phone (Chromium, 360px)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.clients.conftest import PASSWORD, City
from tests.clients.test_single_sign_on import city, in_chromium  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser
STYLESHEET = "/_rp/static/tangsel-rp.css"


def public_pages(city: City) -> list[str]:  # noqa: F811
    return [
        f"{city.event.url}/",
        f"{city.portal.url}/",
        f"{city.hotspot.url}/?location=TSL-0001&mac=aa-bb-cc-dd-ee-09&url=http://example.com/",
    ]


def test_one_stylesheet_and_no_inline_style(city: City) -> None:  # noqa: F811
    for url in public_pages(city):
        page = httpx.get(url)
        assert page.status_code == 200, url
        assert f'<link rel="stylesheet" href="{STYLESHEET}">' in page.text, url
        assert "<style" not in page.text and "style=" not in page.text, url
        assert "style-src 'self';" in page.headers["content-security-policy"], url
        sheet = httpx.get(url.split("/?")[0].rstrip("/") + STYLESHEET)
        assert sheet.status_code == 200 and "overflow-wrap: anywhere" in sheet.text


def test_no_sideways_scrolling_on_a_phone(city: City) -> None:  # noqa: F811
    async def scenario(browser: Any) -> None:
        context = await browser.new_context(viewport={"width": 360, "height": 740}, locale="id-ID")
        page = await context.new_page()
        errors: list[str] = []
        page.on(
            "console",
            lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None,
        )

        async def check(url: str) -> None:
            await page.goto(url)
            wide = await page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
            assert wide, f"{url} scrolls sideways at 360px"
            colour = await page.evaluate(
                "getComputedStyle(document.querySelector('header')).backgroundColor"
            )
            assert colour not in ("", "rgba(0, 0, 0, 0)"), f"{url}: the stylesheet did not load"

        for url in public_pages(city):
            await check(url)
        # Signed in (the event site's header then carries the name and a sign-out button).
        await page.goto(f"{city.event.url}/")
        await page.click("#login")
        await page.wait_for_selector("input[name=password]")
        await page.fill("input[name=username]", "siti")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit], input[type=submit]")
        await page.wait_for_url(f"{city.event.url}/**")
        for url in (f"{city.event.url}/", f"{city.event.url}/me", f"{city.portal.url}/"):
            await check(url)
        assert not errors, errors
        await context.close()

    in_chromium(scenario)
