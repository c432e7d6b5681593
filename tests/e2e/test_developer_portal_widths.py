"""The developer portal's app page in headless Chromium at a phone width (360px) and a desktop
width (1280px): the copy buttons copy (clipboard permission granted to the page's origin) and
say so in their live status, the example tabs open one at a time, nothing scrolls sideways,
and the console stays free of errors. The live server listens on 127.0.0.1, a secure context,
so the clipboard API is there as it is over https."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from sso.oauth import app_review, developer_apps
from sso.storage import clients as client_repo
from tests.factories import PASSWORD, create_user

pytestmark = pytest.mark.browser
LONG_NAME = (
    "Sistem Informasi Pelayanan Terpadu Satu Pintu Kota Tangerang Selatan (SIPTSP) — ñ 日本語"
)
REDIRECT = (
    "https://perizinan-terpadu-satu-pintu.tangerangselatankota.go.id/oauth/callback/tangsel-sso"
)


def overflow(page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


@pytest.mark.parametrize("width", [360, 1280])
def test_the_app_page_at_phone_and_desktop_width(
    live_server, browser, width: int, tmp_path
) -> None:
    rt = live_server.runtime
    with rt.sessions() as db:
        dewi = create_user(rt, db, username="dewi", display_name="Dewi Lestari")
        created = developer_apps.create_app(
            db,
            rt.settings,
            dewi,
            developer_apps.AppDetails(
                name=LONG_NAME,
                redirect_uris=[REDIRECT],
                scopes=["openid", "profile", "email", "phone", "offline_access"],
                client_uri="https://perizinan-terpadu-satu-pintu.tangerangselatankota.go.id/",
            ),
        )
        client_id = created.client.client_id
        client = client_repo.get_by_client_id(db, client_id)
        assert client is not None
        app_review.set_in_development(db, rt.settings, client, True, actor_id=dewi.id)
        db.commit()

    context = browser.new_context(locale="id-ID", viewport={"width": width, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    errors: list[str] = []

    def console(message) -> None:
        # /favicon.ico is the browser's own request (the favicon comes with the home page work
        # of this issue); every other error counts.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(f"{message.text} at {message.location.get('url')}")

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)

    page.goto(f"{live_server.url}/developers/apps/{client_id}")
    page.fill("input[name=username]", "dewi")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/developers/apps/{client_id}")
    assert page.locator("#in-development").is_visible()

    # Copy the client_id: the status says so, and the clipboard holds it.
    button = page.locator("button[data-copy='client-id']")
    assert button.is_visible()
    button.click()
    expect(page.locator("dd:has(#client-id) .copy__status")).to_have_text("Tersalin")
    assert page.evaluate("navigator.clipboard.readText()") == client_id

    # The example tabs: Python opens first; opening PHP closes it; copying a Laravel file
    # copies exactly the code shown.
    assert page.locator("#tab-python").get_attribute("open") is not None
    page.click("#tab-php > summary")
    assert page.locator("#tab-python").get_attribute("open") is None
    page.click("button[data-copy='example-laravel-2']")
    expect(page.locator(".example:has(#example-laravel-2) .copy__status").nth(1)).to_have_text(
        "Tersalin"
    )
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#example-laravel-2").text_content()
    assert "class TangselProvider extends AbstractProvider" in copied
    page.screenshot(path=str(tmp_path / f"app-{width}.png"), full_page=True)

    # Nothing wider than the screen, with every tab open in turn.
    for tab in ("python", "php", "javascript", "curl"):
        page.click(f"#tab-{tab} > summary")
        assert overflow(page) <= 1, (tab, width, overflow(page))
    # The portal's list and form too.
    for path in ("/developers", "/developers/apps/new", f"/developers/apps/{client_id}/edit"):
        page.goto(live_server.url + path)
        assert overflow(page) <= 1, (path, width, overflow(page))
    assert errors == [], (errors, missing)
    context.close()
