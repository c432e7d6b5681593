"""Issue 13's journeys in headless Chromium, one per role (admin, opd-admin, helpdesk, auditor,
and a developer: a citizen with a verified email) at a phone's width (360 px) and a desktop's
(1280 px).

Each person signs in and a small crawler visits every page reachable from their menus (the
admin console's menu and the header's), and the pages those link to inside the consoles: for
the admin a person's page with each tab, an agency, a client, and the confirmation page of
every destructive action (opened, then cancelled). One URL per *shape* (ids taken out), so the
crawl is bounded by what the consoles have, not by how many rows they list. On every page:
nothing scrolls sideways, no console error, every input labelled, a sign-out in the header.
Then one refused action per role (the readable 403 page), and at the desktop width one
destructive action per role confirmed for real (the auditor has none).

Cheap on purpose: one server and one set of rows per backend (module scope), the session's
browser, one context per role and width."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import uvicorn

from sso.app import create_app
from sso.db.models import Client, User
from sso.oauth import developer_apps as registration
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from sso.web.app_runtime import build_app_runtime
from tests.conftest import BACKENDS, POSTGRES_URL, _empty_all_tables, make_settings
from tests.e2e.conftest import LiveServer, free_port
from tests.factories import PASSWORD, create_agency, create_client, create_user, enrol_totp
from tests.oidc.flow import totp_code

pytestmark = pytest.mark.browser

WIDTHS = (360, 1280)
ROLES = ("admin", "opd-admin", "helpdesk", "auditor", "developer")
STAFF = {
    "admin": ("adminkota", "DISKOMINFO"),
    "opd-admin": ("adminopd", "DISKOMINFO"),
    "helpdesk": ("bantuan", "DINKES"),
    "auditor": ("pemeriksa", "DINKES"),
}
CONSOLES = ("/admin", "/account", "/developers")
# Links the crawler leaves alone: downloads, sign-out, the audit CSV, and list pagination or
# ordering or language (the same page again with other rows or words).
SKIP = re.compile(r"\.csv|/logout|/download|/export|[?&](page|before|after|sort|size|lang)=")
MAX_PAGES = 120

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden' && !el.hidden)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 160))"""
FITS = "document.scrollingElement.scrollWidth <= window.innerWidth"
LINKS = """() => [...document.querySelectorAll('a[href]')].map(a => a.href)"""
MENU_LINKS = """() => [...document.querySelectorAll('.admin-nav a[href], .user-menu__links a[href]')]
  .map(a => a.href)"""


@dataclass
class World:
    server: LiveServer
    secrets: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    backend_urls: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """A live provider on this backend with the rows every journey reads, made once."""
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("SSO_TEST_POSTGRES_URL is not set")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(
        backend_urls[request.param], tmp_path_factory.mktemp("journeys"), issuer=url
    )
    runtime = build_app_runtime(settings)
    _empty_all_tables(runtime)
    w = World(LiveServer(url, runtime))
    seed(runtime, w)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    yield w
    server.should_exit = True
    thread.join(timeout=10)
    runtime.dispose()


def seed(rt: Runtime, w: World) -> None:
    with rt.sessions() as db:
        top = create_agency(db, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
        create_agency(db, "DINKES", "Dinas Kesehatan")
        create_agency(db, "KOSONG", "Badan Tanpa Pegawai")
        sub = create_agency(db, "BIDANG-TI", "Bidang Teknologi Informasi")
        sub.parent_id = top.id
        db.commit()
        for role, (username, agency) in STAFF.items():
            user = create_user(
                rt,
                db,
                username=username,
                kind="staff",
                agency_code=agency,
                display_name=f"{username.title()} Tangerang Selatan",
            )
            role_repo.assign_to_user(db, role_repo.get_or_create_global(db, role), user.id)
            db.commit()
            w.secrets[role] = enrol_totp(rt, db, user)
        for key, username, agency in (
            ("ti", "pegawaiti", "BIDANG-TI"),
            ("ti2", "pegawaiti2", "BIDANG-TI"),
            ("dinkes", "pegawaidinkes", "DINKES"),
            ("dinkes2", "pegawaidinkes2", "DINKES"),
        ):
            w.ids[key] = create_user(
                rt,
                db,
                username=username,
                kind="staff",
                agency_code=agency,
                display_name=f"Pegawai {username[7:].upper()}",
            ).id
        w.ids["citizen"] = create_user(
            rt, db, username="warga", display_name="Warga Pondok Aren"
        ).id
        dev = create_user(rt, db, username="dewi", display_name="Dewi Lestari Pengembang")
        created = registration.create_app(
            db,
            rt.settings,
            dev,
            registration.AppDetails(
                name="Aplikasi Antrean Puskesmas",
                redirect_uris=["https://antrean.example.id/cb"],
                scopes=["openid", "profile", "email"],
                client_uri="https://antrean.example.id/",
            ),
        )
        w.ids["dev_app"] = created.client.client_id
        created2 = registration.create_app(
            db,
            rt.settings,
            dev,
            registration.AppDetails(
                name="Aplikasi Coba Hapus",
                redirect_uris=["https://coba.example.id/cb"],
                scopes=["openid"],
                client_uri="https://coba.example.id/",
            ),
        )
        w.ids["dev_app_2"] = created2.client.client_id
        client, _ = create_client(rt, db, name="Portal Satu Data Tangerang Selatan")
        w.ids["client"] = client.client_id
        create_client(rt, db, name="Aplikasi Perizinan Usaha Mikro Kecil", status="pending")
        db.commit()


class Visitor:
    """One role at one width: a context whose page collects console errors and page errors."""

    def __init__(self, browser: Any, w: World, width: int) -> None:
        self.w = w
        phone = width < 600
        self.context = browser.new_context(
            locale="id-ID",
            viewport={"width": width, "height": 800},
            is_mobile=phone,
            has_touch=phone,
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"{m.text} at {m.location.get('url')}")
                if m.type == "error"
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.problems: list[str] = []
        self.visited: list[str] = []

    def log_in(self, role: str) -> None:
        start = "/developers" if role == "developer" else "/admin"
        self.page.goto(self.w.server.url + start)
        self.page.fill("input[name=username]", "dewi" if role == "developer" else STAFF[role][0])
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        if role != "developer":
            self.page.wait_for_selector("#totp-form")
            self.page.fill("#code", totp_code(self.w.secrets[role]))
            self.page.click("#totp-form button[type=submit]")
        self.page.wait_for_url(re.compile(re.escape(self.w.server.url + start) + "$"))

    def check(self, label: str, status: int | None = None) -> None:
        """The four checks on the page shown now; a failure is noted with the page's URL."""
        p, where = self.page, f"{label} {self.page.url}"
        if status is not None and status >= 400:
            self.problems.append(f"{where}: HTTP {status}")
        if not p.evaluate(FITS):
            wide = p.evaluate("""() => [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
              .slice(0, 3).map(e => e.outerHTML.slice(0, 120))""")
            self.problems.append(
                f"{where}: scrolls sideways "
                f"({p.evaluate('document.scrollingElement.scrollWidth')} px) {wide}"
            )
        unlabelled = p.evaluate(UNLABELLED)
        if unlabelled:
            self.problems.append(f"{where}: unlabelled {unlabelled}")
        if p.locator("header form.user-menu__logout button[data-nav=logout]").count() != 1:
            self.problems.append(f"{where}: no sign-out in the header")
        if self.errors:
            self.problems.append(f"{where}: console {self.errors}")
            self.errors.clear()

    def crawl(self, start: str) -> None:
        """Breadth first from the menus, one URL per shape, inside the consoles."""
        base = self.w.server.url
        self.page.goto(base + start)
        queue = [
            (start, "menu"),
            *((self.local(h), "menu") for h in self.page.evaluate(MENU_LINKS)),
        ]
        seen: set[str] = set()
        while queue and len(self.visited) < MAX_PAGES:
            path, came_from = queue.pop(0)
            if not path or shape(path) in seen or SKIP.search(path):
                continue
            seen.add(shape(path))
            response = self.page.goto(base + path)
            self.page.wait_for_load_state("load")
            self.visited.append(path)
            self.check(f"from {came_from}:", response.status if response else None)
            queue += [(self.local(h), path) for h in self.page.evaluate(LINKS)]
        left = {shape(p) for p, _ in queue if p and not SKIP.search(p)} - seen
        assert not left, f"the crawl stopped at {MAX_PAGES} pages; not visited: {sorted(left)}"

    def local(self, href: str) -> str:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != self.w.server.url:
            return ""
        if not parts.path.startswith(CONSOLES):
            return ""
        return parts.path + (f"?{parts.query}" if parts.query else "")


def shape(path: str) -> str:
    """The path with ids taken out: /admin/users/<id>?tab=roles is one shape for everyone."""
    parts = urlsplit(path)
    segments = ["<id>" if is_id(s) else s for s in parts.path.split("/")]
    query = sorted((k, "<id>" if is_id(v) else v) for k, v in parse_qsl(parts.query))
    return "/".join(segments) + ("?" + urlencode(query) if query else "")


def is_id(value: str) -> bool:
    return value.isdigit() or (len(value) >= 12 and any(c.isdigit() for c in value))


@pytest.fixture(
    params=[(r, w) for r in ROLES for w in WIDTHS],
    ids=[f"{r}-{w}px" for r in ROLES for w in WIDTHS],
)
def visitor(request: pytest.FixtureRequest, browser: Any, world: World) -> Iterator[Visitor]:
    role, width = request.param
    v = Visitor(browser, world, width)
    v.log_in(role)
    yield v
    v.context.close()


def refused(
    v: Visitor, path: str, status: int = 403, says: str = "Anda tidak berwenang melakukan ini"
) -> None:
    """The refusal is a readable page in the person's header, saying why."""
    response = v.page.goto(v.w.server.url + path)
    assert response is not None and response.status == status, (path, response and response.status)
    assert says in v.page.locator("main").inner_text()
    # Chromium reports the document's own 4xx status in the console; that is the refusal.
    v.errors[:] = [e for e in v.errors if not e.endswith(f"at {v.w.server.url}{path}")]
    v.check("refusal")


def confirm(v: Visitor, path: str, done: str) -> None:
    """Open a confirmation page, cancel it, open it again and confirm."""
    url = v.w.server.url
    v.page.goto(url + path)
    v.check("confirm")
    v.page.click("#confirm-cancel, a:has-text('Batal')")
    v.page.goto(url + path)
    v.page.click("#confirm-button, form button[type=submit].button--danger")
    v.page.wait_for_url(f"**{done}**")
    v.check("confirmed")


def test_every_page_of_every_role(
    visitor: Visitor, request: pytest.FixtureRequest, world: World
) -> None:
    role, width = request.node.callspec.params["visitor"]
    ids = world.ids
    v = visitor
    v.crawl("/developers" if role == "developer" else "/admin")
    # The crawl reached what the role's menus promise (and no more than it may see).
    shapes = {shape(p) for p in v.visited}
    print(f"{role} at {width} px: {len(v.visited)} pages")
    if role == "admin":
        for tab in ("details", "credentials", "roles", "sessions", "apps", "events"):
            assert f"/admin/users/<id>?tab={tab}" in shapes, (tab, sorted(shapes))
        for wanted in (
            "/admin/users/<id>/disable/confirm",
            "/admin/users/<id>/reset-mfa/confirm",
            "/admin/clients/<id>",
            "/admin/agencies",
            "/admin/keys",
            "/admin/roles/<id>",
            "/admin/audit",
            "/admin/sessions",
            "/developers",
            "/account/security",
        ):
            assert wanted in shapes, (wanted, sorted(shapes))
    elif role == "developer":
        assert {"/developers/apps/<id>", "/developers/apps/new"} <= shapes, sorted(shapes)
        assert not any(s.startswith("/admin") for s in shapes)
    else:
        assert "/admin" in shapes and "/account" in shapes, sorted(shapes)
    assert v.problems == [], "\n".join(v.problems)

    # One refused action per role: the refusal is a readable page, not a stack trace.
    if role == "admin":
        # The built-in console client cannot be disabled, not even by an admin.
        console = _console_client(world.server.runtime)
        assert console
        refused(
            v,
            f"/admin/clients/{console}/disable/confirm",
            400,
            "Klien bawaan konsol tidak bisa dinonaktifkan",
        )
    elif role == "opd-admin":
        refused(v, f"/admin/users/{ids['dinkes']}")  # outside its agency
    elif role == "helpdesk":
        refused(v, "/admin/keys")
    elif role == "auditor":
        refused(v, "/admin/users/new")
    else:
        refused(v, "/admin", says="Akun Anda tidak memiliki peran tersebut")
    assert v.problems == [], "\n".join(v.problems)

    # One destructive action per role confirmed for real (once: at the desktop width).
    if width != 1280:
        return
    if role == "admin":
        confirm(v, f"/admin/users/{ids['citizen']}/disable/confirm", "done=disabled")
        with world.server.runtime.sessions() as db:
            assert db.get(User, ids["citizen"]).status == "disabled"  # type: ignore[union-attr]
    elif role == "opd-admin":
        confirm(v, f"/admin/users/{ids['ti2']}/disable/confirm", "done=disabled")
        with world.server.runtime.sessions() as db:
            assert db.get(User, ids["ti2"]).status == "disabled"  # type: ignore[union-attr]
    elif role == "helpdesk":
        confirm(v, f"/admin/users/{ids['dinkes2']}/reset-mfa/confirm", "done=")
    elif role == "developer":
        confirm(v, f"/developers/apps/{ids['dev_app_2']}/delete", "/developers")
        with world.server.runtime.sessions() as db:
            assert db.query(Client).filter_by(client_id=ids["dev_app_2"]).count() == 0
    assert v.problems == [], "\n".join(v.problems)


def _console_client(rt: Runtime) -> str | None:
    """The built-in admin console client's id, when this deployment has one."""
    from sqlalchemy import select

    with rt.sessions() as db:
        for c in db.scalars(select(Client)):
            if getattr(c, "built_in", False) or "console" in (c.client_id or ""):
                return c.client_id
    return None
