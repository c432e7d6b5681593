"""The portal's browser example (oauth4webapi v3), run as the single-page app it is, in headless
Chromium against a live provider: the app (its origin ``http://localhost:9999`` answered by the
test, an app in development so it may use that redirect URI) logs its developer in with PKCE,
and the ID token claims come back checked. Needs oauth4webapi's package
(``SSO_TEST_NODE_MODULES`` names a ``node_modules`` holding it; nothing is downloaded)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from sso.developers import examples
from sso.oauth import app_review, developer_apps
from sso.oidc import discovery
from sso.storage import clients as client_repo
from tests.factories import PASSWORD, create_user

pytestmark = pytest.mark.browser
NODE_MODULES = os.environ.get("SSO_TEST_NODE_MODULES")
APP = "http://localhost:9999"
IMPORTS = '<script type="importmap">{"imports": {"oauth4webapi": "/oauth4webapi.js"}}</script>'
INDEX = (
    IMPORTS
    + """
<script type="module">import * as app from "/app.js"; window.tangsel = app;
document.body.dataset.ready = "1";</script><p>app</p>"""
)
CALLBACK = (
    IMPORTS
    + """<pre id="result"></pre>
<script type="module">import { handleCallback } from "/app.js";
const out = document.getElementById("result");
handleCallback().then((r) => { out.textContent = JSON.stringify(r.claims); },
                      (e) => { out.textContent = "ERROR " + e; });</script>"""
)


@pytest.mark.skipif(not NODE_MODULES, reason="SSO_TEST_NODE_MODULES is not set (oauth4webapi)")
def test_the_browser_example_logs_its_developer_in(live_server, browser) -> None:
    assert NODE_MODULES
    library = (Path(NODE_MODULES) / "oauth4webapi" / "build" / "index.js").read_text()
    rt = live_server.runtime
    with rt.sessions() as db:
        dewi = create_user(rt, db, username="dewi")
        created = developer_apps.create_app(
            db,
            rt.settings,
            dewi,
            developer_apps.AppDetails(
                name="Peta 'Taman' Kota", kind="spa", redirect_uris=["https://peta.example.id/cb"]
            ),
        )
        client = client_repo.get_by_client_id(db, created.client.client_id)
        assert client is not None
        app_review.set_in_development(db, rt.settings, client, True, actor_id=dewi.id)
        client.redirect_uris = [f"{APP}/callback"]
        app_review.approve(db, client, dewi.id)
        db.commit()
        [code] = [
            e.files[0].code
            for e in examples.examples(client, discovery.metadata(rt.settings))
            if e.key == "browser"
        ]
        client_id, dewi_id = client.client_id, dewi.id

    context = browser.new_context(locale="id-ID")
    # Chromium asks before a page reaches the loopback address space from elsewhere (Local
    # Network Access); here the provider is on 127.0.0.1, as a developer's would be.
    context.grant_permissions(["local-network-access"], origin=APP)
    console: list[str] = []
    pages = {"/": INDEX, "/callback": CALLBACK}

    def serve(route) -> None:
        path = route.request.url[len(APP) :].split("?")[0]
        if path in ("/app.js", "/oauth4webapi.js"):
            body = code if path == "/app.js" else library
            route.fulfill(status=200, content_type="text/javascript", body=body)
        else:
            route.fulfill(status=200, content_type="text/html", body=pages.get(path, ""))

    context.route(APP + "/**", serve)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: console.append(m.text))
    page.goto(APP + "/")
    expect(page.locator("body[data-ready='1']")).to_have_count(1)
    try:
        page.evaluate("window.tangsel.login()")
    except Exception:
        raise AssertionError(console) from None
    page.wait_for_url(f"{live_server.url}/**")
    page.fill("input[name=username]", "dewi")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.locator("button[name=decision][value=allow]").count():
        page.click("button[name=decision][value=allow]")
    page.wait_for_url(APP + "/callback**")
    result = page.locator("#result")
    expect(result).not_to_have_text("")
    claims = json.loads(result.inner_text())
    assert claims["sub"] == dewi_id and claims["aud"] == client_id, claims
    assert claims["iss"] == live_server.url
    assert errors == []
    context.close()
