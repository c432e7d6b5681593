"""Chromium journeys of logging in through an upstream identity provider. A second instance of
our own provider, started as a real server, plays INApas (with a NIK) and "Google" (a second
client registration at it). One SSO server per backend and one upstream for the module."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from sqlalchemy import select

from sso.app import create_app
from sso.db.models import FederatedIdentity, User
from sso.federation import registry
from sso.runtime import Runtime
from sso.web.app_runtime import build_app_runtime
from tests.conftest import BACKENDS, POSTGRES_URL, _empty_all_tables, make_settings
from tests.e2e.conftest import free_port
from tests.e2e.test_browser_login import capture_rp, goto
from tests.factories import PASSWORD, create_client, create_user
from tests.federation.idp import Upstream, running_upstream
from tests.oidc.flow import authorize_url

pytestmark = pytest.mark.browser
RP = "https://rp.example.id/callback"
PEOPLE = (
    ("andi-up", "andi@warga.example.id", "Andi Wijaya"),
    ("budi-up", "budi@warga.example.id", "Budi Santoso"),
    ("dewi-up", "dewi@warga.example.id", "Dewi Lestari"),
)


@dataclass
class Sso:
    url: str
    runtime: Runtime
    client_id: str


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with running_upstream(tmp_path_factory.mktemp("idp"), people=PEOPLE, clients=2) as up:
        yield up


@pytest.fixture(scope="module", params=BACKENDS)
def sso(
    request: pytest.FixtureRequest,
    backend_urls: dict[str, str],
    upstream: Upstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Sso]:
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("SSO_TEST_POSTGRES_URL is not set")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(
        backend_urls[request.param], tmp_path_factory.mktemp("sso"), issuer=url
    )
    runtime = build_app_runtime(settings)
    _empty_all_tables(runtime)
    google_id, google_secret = upstream.more_clients[0]
    upstream.allow_redirect(f"{url}/upstreams/inapas/callback")
    upstream.allow_redirect(f"{url}/upstreams/google/callback", client_id=google_id)
    with runtime.sessions() as s:
        for spec in (
            registry.UpstreamSpec(
                slug="inapas",
                name="INApas",
                issuer=upstream.url,
                client_id=upstream.client_id,
                client_secret=upstream.client_secret,
                preset="inapas",
            ),
            registry.UpstreamSpec(
                slug="google",
                name="Google",
                issuer=upstream.url,
                client_id=google_id,
                client_secret=google_secret,
            ),
        ):
            registry.create(s, settings, runtime.encryptor, spec)
        s.commit()
        client, _ = create_client(
            runtime, s, redirect_uris=[RP], trusted=True, scope="openid profile email nik"
        )
        for username, email, _name in PEOPLE[:2]:
            create_user(runtime, s, username=username.split("-")[0], email=email)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "SSO did not start"
        time.sleep(0.05)
    yield Sso(url, runtime, client.client_id)
    server.should_exit = True
    thread.join(timeout=10)
    runtime.dispose()


def to_login_page(page, sso: Sso) -> None:
    req = authorize_url(sso.client_id, RP, "openid profile email nik")
    goto(page, sso.url + req.url)
    assert page.locator("h1").inner_text() == "Masuk"


def submit(page, selector: str) -> None:
    """Click and wait for the navigation; one that ends at the (fake) relying party may report
    a DNS error (its requests are captured by :func:`capture_rp`)."""
    from playwright.sync_api import Error

    try:
        with page.expect_navigation():
            page.click(selector)
    except Error as exc:
        if "ERR_NAME_NOT_RESOLVED" not in str(exc):
            raise


def at_upstream(page, username: str, *, decision: str = "allow") -> None:
    """The person on the upstream's own pages: log in, and answer its consent if it asks."""
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    submit(page, "button[type=submit]")
    if page.locator(f"button[value={decision}]").count():
        submit(page, f"button[value={decision}]")


def rows(sso: Sso, model, **where) -> list:
    with sso.runtime.sessions() as s:
        stmt = select(model).filter_by(**where)
        return list(s.scalars(stmt))


def test_sign_up_through_inapas_with_a_verified_nik(sso, upstream, page):
    captured: list[str] = []
    capture_rp(page, captured)
    to_login_page(page, sso)
    page.click("text=Masuk dengan INApas")
    assert page.url.startswith(upstream.url)  # the upstream's own login page
    at_upstream(page, "siti-inapas")
    page.wait_for_timeout(300)
    assert any("code=" in u for u in captured), captured
    user = rows(sso, User, email_normalized=upstream.email)[0]
    assert user.nik_verified and user.email_verified and user.display_name == "Siti Aminah"
    goto(page, sso.url + "/account/identities")
    assert page.locator("[data-testid=identity]").inner_text().startswith("INApas")


def test_linking_to_an_existing_account_after_proving_the_password(sso, page):
    captured: list[str] = []
    capture_rp(page, captured)
    to_login_page(page, sso)
    page.click("text=Masuk dengan Google")
    at_upstream(page, "andi-up")
    assert page.locator("h1").inner_text() == "Buktikan bahwa ini akun Anda"
    assert "andi@warga.example.id" in page.content()
    page.fill("#password", PASSWORD)
    submit(page, "button[type=submit]")
    page.wait_for_timeout(300)
    assert any("code=" in u for u in captured), captured
    andi = rows(sso, User, username="andi")[0]
    assert [link.user_id for link in rows(sso, FederatedIdentity) if link.user_id == andi.id] == [
        andi.id
    ]


def test_a_bare_email_match_is_never_linked(sso, page):
    to_login_page(page, sso)
    page.click("text=Masuk dengan Google")
    at_upstream(page, "budi-up")
    assert page.locator("h1").inner_text() == "Buktikan bahwa ini akun Anda"
    budi = rows(sso, User, username="budi")[0]
    assert not rows(sso, FederatedIdentity, user_id=budi.id)  # nothing on the email alone
    page.fill("#password", "I do not know it")
    page.click("button[type=submit]")
    assert "Kata sandi salah" in page.locator("#prove-error").inner_text()
    assert not rows(sso, FederatedIdentity, user_id=budi.id)
    page.click("text=Kembali ke halaman masuk")
    assert page.locator("h1").inner_text() == "Masuk"


def test_upstream_errors_give_a_page_with_a_way_back(sso, page):
    to_login_page(page, sso)
    page.click("text=Masuk dengan INApas")
    at_upstream(page, "dewi-up", decision="deny")
    assert page.locator("h1").inner_text() == "Tidak dapat masuk"
    assert "dibatalkan atau ditolak" in page.content()
    page.click("text=Kembali ke halaman masuk")
    assert page.locator("h1").inner_text() == "Masuk"
    assert not rows(sso, User, email_normalized="dewi@warga.example.id")

    with sso.runtime.sessions() as s:  # an upstream that does not answer
        registry.create(
            s,
            sso.runtime.settings,
            sso.runtime.encryptor,
            registry.UpstreamSpec(
                slug="mati",
                name="Mati",
                issuer=f"http://127.0.0.1:{free_port()}",
                client_id="x",
                client_secret="y",
            ),
        )
        s.commit()
    try:
        to_login_page(page, sso)
        page.click("text=Masuk dengan Mati")
        assert "tidak dapat dihubungi" in page.content()
        page.click("text=Kembali ke halaman masuk")
        assert page.locator("h1").inner_text() == "Masuk"
    finally:
        with sso.runtime.sessions() as s:
            registry.disable(s, "mati")
            s.commit()
