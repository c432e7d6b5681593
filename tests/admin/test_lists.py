"""Issue 13 (a13k): the agency tree and its search, the built-in roles in words, searched and
paged app roles, clients (search, pages, copy fields, app roles, the console client kept), and
live sessions (app, device, address, WIB times, this session, search, pages)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.core.user_agents import summarise
from sso.db.models import Role
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from sso.web.console import CONSOLE_CLIENT_ID
from tests.admin.conftest import Browser, person
from tests.factories import create_client
from tests.oidc.flow import open_console_page

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"
)
TEMPLATES = Path(__file__).resolve().parents[2] / "sso" / "admin" / "templates" / "admin"
WIB_TIME = re.compile(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2} WIB")


def _item(text: str, code: str) -> str:
    """The tree item of ``code`` up to its own closing tag (its sub-tree included)."""
    start = text.index(f'data-code="{code}"')
    return text[start:]


def test_agency_tree_is_nested_with_counts_linking_to_the_people(
    admin: Browser, runtime: Runtime, db: Session, org: Any
) -> None:
    top, sub = org["DISKOMINFO"], org["BIDANG-TI"]
    person(runtime, db, "pegawaiti", agency="BIDANG-TI", nip="199001012015011099", mfa=False)
    text = admin.get("/admin/agencies").text
    # BIDANG-TI is inside DISKOMINFO's <details>, DINKES beside it.
    tree = text[text.index('id="agency-tree"') :]
    top_item = _item(tree, "DISKOMINFO")
    assert top_item.index("<details") < top_item.index('data-code="BIDANG-TI"')
    assert re.search(r'<ul>\s*<li class="tree__item" data-code="BIDANG-TI" data-depth="1">', tree)
    # counts: DISKOMINFO holds the admin and (below it) the new staff member; links filter
    link = re.search(rf'href="/admin/users\?agency={top.id}" data-staff="(\d+)"', tree)
    assert link and link.group(1) == "2", tree[:2000]
    assert f'href="/admin/users?agency={sub.id}" data-staff="1"' in tree
    listed = admin.get(f"/admin/users?agency={sub.id}").text
    listed = listed[listed.index('id="users"') :]
    assert "Pegawaiti" in listed and "Adminkota" not in listed
    # nothing opened without a search
    assert "<details open" not in tree


def test_agency_search_opens_the_path_and_filters(admin: Browser, org: Any) -> None:
    r = admin.get("/admin/agencies?q=teknologi")
    assert r.status_code == 200
    tree = r.text[r.text.index('id="agency-tree"') :]
    assert 'data-code="DINKES"' not in tree
    top = _item(tree, "DISKOMINFO")
    assert top.split(">", 1)[1].lstrip().startswith("<details open>")
    assert re.search(r'class="tree__item tree__item--match" data-code="BIDANG-TI"', tree)
    assert 'value="teknologi"' in r.text and '<label for="q">' in r.text
    empty = admin.get("/admin/agencies?q=%00zzz").text
    assert "Tidak ada OPD yang cocok" in empty
    english = admin.get("/admin/agencies?q=zzz&lang=en").text
    assert "No agencies match" in english


def test_new_staff_have_no_agency_chosen_in_advance(admin: Browser) -> None:
    text = admin.get("/admin/users/new").text
    select = text[text.index('id="agency_id"') :]
    select = select[: select.index("</select>")]
    assert re.search(r'<option value="" selected disabled>', select)
    assert select.count("selected") == 1


def test_built_in_roles_are_listed_with_what_they_allow(admin: Browser, db: Session) -> None:
    text = admin.get("/admin/roles").text
    builtin = text[text.index('id="builtin-roles"') : text.index('id="app-roles"')]
    for name in ("admin", "opd-admin", "helpdesk", "auditor"):
        assert f'id="builtin-{name}"' in builtin
    auditor = builtin[builtin.index('id="builtin-auditor"') :]
    auditor = auditor[: auditor.index("</article>")]
    assert "Membaca log audit" in auditor and "Melihat dasbor" in auditor
    assert "users.manage" not in auditor and "Mengimpor" not in auditor
    helpdesk = builtin[builtin.index('id="builtin-helpdesk"') :]
    assert "Membuka kunci akun" in helpdesk[: helpdesk.index("</article>")]
    # the app roles table does not repeat them
    table = text[text.index('id="roles"') :]
    assert ">admin</a>" not in table and ">auditor</a>" not in table
    english = admin.get("/admin/roles?lang=en").text
    assert "Built-in console roles" in english and "Read the audit log" in english


def test_app_roles_searched_and_paged(admin: Browser, runtime: Runtime, db: Session) -> None:
    client, _ = create_client(runtime, db, name="Aplikasi Acara")
    for i in range(30):
        db.add(Role(name=f"peran-{i:02d}", client_id=client.id, description=f"Peran nomor {i}"))
    db.add(Role(name="operator-gudang", client_id=None, description="Gudang"))
    db.commit()
    first = admin.get("/admin/roles").text
    table = first[first.index('id="roles"') :]
    assert table.count('href="/admin/roles/') == 25
    assert 'rel="next" href="/admin/roles?page=2"' in first and 'rel="prev"' not in first
    second = admin.get("/admin/roles?page=2").text
    assert 'rel="prev" href="/admin/roles?page=1"' in second and 'rel="next"' not in second
    assert second[second.index('id="roles"') :].count('href="/admin/roles/') == 6
    found = admin.get("/admin/roles?q=GUDANG").text
    table = found[found.index('id="roles"') :]
    assert "operator-gudang" in table and "peran-01" not in table
    by_app = admin.get("/admin/roles?q=acara").text
    assert 'rel="next" href="/admin/roles?q=acara&amp;page=2"' in by_app
    assert admin.get("/admin/roles?page=999").status_code == 200
    assert admin.get("/admin/roles?page=-1").status_code == 200


def test_clients_search_pages_copy_fields_and_app_roles(
    admin: Browser, runtime: Runtime, db: Session
) -> None:
    made = [create_client(runtime, db, name=f"Aplikasi {i:02d}")[0] for i in range(27)]
    event, _ = create_client(runtime, db, name="Tiket Acara Kota")
    role_repo.add(db, Role(name="panitia", client_id=event.id, description="Panitia acara"))
    db.commit()
    first = admin.get("/admin/clients").text
    assert 'rel="next" href="/admin/clients?page=2"' in first
    assert '<label for="q">' in first
    second = admin.get("/admin/clients?page=2").text
    assert 'rel="prev" href="/admin/clients?page=1"' in second
    assert "Tiket Acara Kota" in second
    found = admin.get("/admin/clients?q=tiket").text
    table = found[found.index('id="clients"') :]
    assert "Tiket Acara Kota" in table and "Aplikasi 01" not in table
    by_id = admin.get(f"/admin/clients?q={made[3].client_id.upper()}").text
    assert "Aplikasi 03" in by_id[by_id.index('id="clients"') :]
    status = admin.get("/admin/clients?q=tiket&status=active").text
    assert "Tiket Acara Kota" in status and 'name="status" value="active"' in status
    assert "Tidak ada aplikasi yang cocok" in admin.get("/admin/clients?q=%25%25").text

    page = admin.get(f"/admin/clients/{event.client_id}").text
    assert (
        f'<input id="client-id" value="{event.client_id}" '
        f'data-copy-text="{event.client_id}" readonly'
    ) in page
    discovery = "/.well-known/openid-configuration"
    assert re.search(
        r'<input id="discovery-url" value="https?://[^"]+' + re.escape(discovery), page
    )
    assert 'data-copy="client-id"' in page and 'data-copied="Tersalin"' in page
    assert 'id="client-id-status" aria-live="polite"' in page
    roles = page[page.index('id="client-roles"') :]
    assert "panitia" in roles and "Panitia acara" in roles
    assert 'data-copied="Copied"' in admin.get(f"/admin/clients/{event.client_id}?lang=en").text


def test_console_client_offers_no_disable(admin: Browser) -> None:
    page = admin.get(f"/admin/clients/{CONSOLE_CLIENT_ID}")
    assert page.status_code == 200
    assert 'id="disable-client"' not in page.text and "/disable/confirm" not in page.text
    assert 'id="built-in-client"' in page.text
    r = admin.get(f"/admin/clients/{CONSOLE_CLIENT_ID}/disable/confirm")
    assert r.status_code == 400 and 'id="confirm-form"' not in r.text


def test_sessions_show_app_device_address_wib_and_this_session(
    app: FastAPI, admin: Browser, runtime: Runtime, db: Session
) -> None:
    person(runtime, db, "warga.hp", kind="citizen", mfa=False)
    phone = TestClient(
        app,
        base_url="http://testserver",
        headers={"accept": "text/html", "user-agent": ANDROID_CHROME},
    )
    try:
        assert open_console_page(phone, "/account", "warga.hp").status_code == 200
    finally:
        phone.close()
    text = admin.get("/admin/sessions").text
    rows = re.findall(r'<tr class="session-row[^"]*".*?</tr>', text, re.S)
    assert len(rows) == 2
    mine = next(r for r in rows if "session-row--own" in r)
    theirs = next(r for r in rows if "warga.hp" in r)
    assert 'id="this-session"' in mine and "sesi ini" in mine
    assert "this-session" not in theirs
    assert "Chrome di Android" in theirs
    assert "testclient" in theirs  # the address the test client connects from
    assert len(WIB_TIME.findall(theirs)) == 2
    assert 'class="session-apps">Tangsel SSO</td>' in theirs  # the console's own client
    assert "Waktu dalam WIB" in text
    # search by the start of a username (any case); by email or NIP: that one person
    found = admin.get("/admin/sessions?user=WARGA").text
    assert "warga.hp" in found and "session-row--own" not in found
    assert "session-row--own" in admin.get(f"/admin/sessions?user={admin.user.nip}").text
    assert "Tidak ada sesi aktif" in admin.get("/admin/sessions?user=nobody%00").text
    english = admin.get("/admin/sessions?lang=en").text
    assert "Chrome on Android" in english


def test_sessions_pages_both_ways(
    admin: Browser, runtime: Runtime, db: Session, app: FastAPI
) -> None:
    from sso.admin import system

    person(runtime, db, "warga.banyak", kind="citizen", mfa=False)
    size = system.SESSIONS_PER_PAGE
    for _ in range(size):  # the admin has one already
        http = TestClient(app, base_url="http://testserver", headers={"accept": "text/html"})
        open_console_page(http, "/account", "warga.banyak")
        http.close()
    first = admin.get("/admin/sessions").text
    assert 'rel="next" href="/admin/sessions?page=2"' in first
    second = admin.get("/admin/sessions?page=2").text
    assert 'rel="prev" href="/admin/sessions?page=1"' in second and 'rel="next"' not in second
    assert len(re.findall(r'<tr class="session-row', second)) == 1
    searched = admin.get("/admin/sessions?user=warga").text
    assert 'rel="next" href="/admin/sessions?user=warga&amp;page=2"' not in searched


def test_user_agent_summary() -> None:
    assert summarise(ANDROID_CHROME) == summarise(ANDROID_CHROME)
    assert (summarise(ANDROID_CHROME).browser, summarise(ANDROID_CHROME).system) == (
        "Chrome",
        "Android",
    )
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    )
    assert (summarise(iphone).browser, summarise(iphone).system) == ("Safari", "iOS")
    edge = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
    )
    assert (summarise(edge).browser, summarise(edge).system) == ("Edge", "Windows")
    firefox = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
    assert (summarise(firefox).browser, summarise(firefox).system) == ("Firefox", "Ubuntu")
    assert not summarise(None).known and not summarise("???").known


def test_every_a13k_key_exists_in_both_languages() -> None:
    root = TEMPLATES.parents[2] / "web" / "i18n"
    ids = json.loads((root / "id.a13k.json").read_text())
    ens = json.loads((root / "en.a13k.json").read_text())
    assert set(ids) == set(ens)
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        used |= set(re.findall(r"_\('(a13k\.[a-z0-9_.-]+)'", text))
        if "a13k.perm.%s" in text:
            from sso.admin.access import PERMISSIONS

            used |= {f"a13k.perm.{p}" for p in PERMISSIONS}
        if "a13k.roles.summary.%s" in text:
            used |= {
                f"a13k.roles.summary.{r}" for r in ("admin", "opd-admin", "helpdesk", "auditor")
            }
    assert used and used - set(ids) == set()


def test_a_built_in_role_page_says_what_it_allows(admin: Browser, db: Session) -> None:
    role = role_repo.get_or_create_global(db, "helpdesk")
    db.commit()
    r = admin.get(f"/admin/roles/{role.id}")
    allows = r.text[r.text.index('id="role-permissions"') :]
    assert "Membuka kunci akun" in allows and "Mengimpor" not in allows
    title = r.text[r.text.index("<title>") : r.text.index("</title>")]
    assert "<h2>" not in title and "delete-role" not in r.text  # built in: no delete offered
    other = role_repo.get_or_create_global(db, "operator")
    db.commit()
    page = admin.get(f"/admin/roles/{other.id}").text
    assert 'id="role-permissions"' not in page and 'id="delete-role"' in page
    assert "delete-role" not in page[page.index("<title>") : page.index("</title>")]


def test_one_persons_sessions_by_id(admin: Browser) -> None:
    text = admin.get(f"/admin/sessions?user_id={admin.user.id}").text
    assert "session-row--own" in text and f'value="{admin.user.username}"' in text
    assert "Tidak ada sesi aktif" in admin.get("/admin/sessions?user_id=nobody%00").text
