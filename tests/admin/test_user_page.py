"""The person's page in the admin UI: tabs (``?tab=…``, each rendered on the server) with the
details (times in WIB, lock state, no internal version), credentials, roles (given and taken
back here), sessions, connected apps and recent events; unlock offered only when locked."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import Consent, RoleAssignment, User
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.admin.conftest import Browser, browser, events, person
from tests.factories import create_client
from tests.oidc.flow import authorize_url, csrf_of

NIPS = [f"19{80 + i:02d}0202200{i % 10}02100{i % 10}" for i in range(6)]
TABS = ("details", "credentials", "roles", "sessions", "apps", "events")


def tab(b: Browser, user: User, name: str) -> str:
    r = b.get(f"/admin/users/{user.id}?tab={name}")
    assert r.status_code == 200, r.text[:300]
    assert f'id="tab-{name}" aria-current="page"' in r.text
    return r.text


def test_every_tab_shows_its_part(
    app: FastAPI, admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    rina, totp = person(runtime, db, "rina", nip=NIPS[0])
    client, _ = create_client(runtime, db, name="Portal Data", trusted=True)
    db.add(Consent(user_id=rina.id, client_id=client.client_id, scopes=["openid", "profile"]))
    db.commit()
    own = browser(app, rina, totp, "/account")  # a login: a session and a last login
    db.expire_all()

    details = admin.get(f"/admin/users/{rina.id}").text  # the default tab
    assert 'id="tab-details" aria-current="page"' in details
    for name in TABS:  # plain links: no JavaScript needed
        assert f'href="/admin/users/{rina.id}?tab={name}"' in details
    assert "Tidak terkunci" in details and "Belum pernah" not in details
    assert details.count(" WIB") >= 2  # created and last login, zone shown
    assert not re.search(r"versi(on)?\s+\d", details)  # no internal version shown
    assert 'name="version"' in details  # (kept in the edit form, for the conflict check)
    assert 'data-action="unlock"' not in details

    creds = tab(admin, rina, "credentials")
    assert "Sudah dibuat" in creds and "Aktif sejak" in creds and "0 tersisa" in creds
    assert "Passkey" in creds

    sessions = tab(admin, rina, "sessions")
    assert " WIB" in sessions  # started and last active, in the city's zone
    assert "Tidak ada sesi aktif" not in sessions

    apps = tab(admin, rina, "apps")
    assert "Portal Data" in apps and "openid profile" in apps

    recent = tab(admin, rina, "events")
    assert "user.login" in recent and " WIB" in recent
    # English, and an unknown tab falls back to the details.
    assert "Connected apps" in admin.get(f"/admin/users/{rina.id}?tab=apps&lang=en").text
    assert (
        'id="tab-details" aria-current="page"' in admin.get(f"/admin/users/{rina.id}?tab=nope").text
    )
    own.http.close()


def test_unlock_is_offered_only_when_locked(
    app: FastAPI, admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    sari, _ = person(runtime, db, "sari", nip=NIPS[1], mfa=False)
    client, _ = create_client(runtime, db, trusted=True)
    page = f"/admin/users/{sari.id}"
    assert 'data-action="unlock"' not in admin.get(page).text
    guesser = TestClient(app, base_url="http://testserver")
    for _ in range(runtime.settings.login_max_failures_account_ip):
        r = guesser.get(authorize_url(client.client_id).url, follow_redirects=False)
        interaction = r.headers["location"]
        form = guesser.get(interaction)
        guesser.post(
            f"{interaction}/login",
            data={
                "username": "sari",
                "password": "wrong password!",
                "csrf_token": csrf_of(form.text),
            },
        )
    locked = admin.get(page).text
    assert 'data-action="unlock"' in locked and "Terkunci" in locked
    assert admin.post(f"{page}/unlock", page=page).status_code == 303
    after = admin.get(page).text
    assert 'data-action="unlock"' not in after and "Tidak terkunci" in after
    guesser.close()


def test_roles_given_and_taken_back_on_the_page(
    admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    tono, _ = person(runtime, db, "tono", nip=NIPS[2], mfa=False)
    client, _ = create_client(runtime, db, name="Acara Kota", trusted=True)
    from sso.db.models import Role

    role_repo.add(db, Role(name="organizer", client_id=client.id, description="Panitia"))
    role_repo.get_or_create_global(db, "helpdesk")
    db.commit()
    page = f"/admin/users/{tono.id}?tab=roles"
    text = admin.get(page).text
    assert 'list="role-names"' in text and '<option value="helpdesk">' in text
    assert f'<option value="{client.client_id}/organizer">' in text
    assert "Tidak memegang peran" in text

    r = admin.post(f"/admin/users/{tono.id}/roles/grant", {"role": "helpdesk"}, page=page)
    assert r.status_code == 303 and r.headers["location"].endswith("tab=roles&done=granted")
    r = admin.post(
        f"/admin/users/{tono.id}/roles/grant", {"role": f"{client.client_id}/organizer"}, page=page
    )
    assert r.status_code == 303
    text = admin.get(page).text
    assert "<code>helpdesk</code>" in text and "<code>organizer</code>" in text
    assert client.client_id in text  # the app of the app role
    assert events(db, "role.granted", actor_id=admin.user.id, target_id=tono.id)

    for bad in ("tidak-ada", "help\x00desk", "nope/helpdesk"):
        unknown = admin.post(f"/admin/users/{tono.id}/roles/grant", {"role": bad}, page=page)
        assert unknown.status_code == 404 and "Peran tidak ditemukan" in unknown.text

    held = db.scalars(select(RoleAssignment).where(RoleAssignment.user_id == tono.id)).all()
    helpdesk_role = role_repo.get(db, "helpdesk", None)
    assert helpdesk_role is not None
    helpdesk = next(a for a in held if a.role_id == helpdesk_role.id)
    r = admin.post(
        f"/admin/users/{tono.id}/roles/revoke", {"assignment_id": str(helpdesk.id)}, page=page
    )
    assert r.status_code == 303
    text = admin.get(page).text
    assert "<code>helpdesk</code>" not in text and "<code>organizer</code>" in text
    assert events(db, "role.revoked", actor_id=admin.user.id, target_id=tono.id)
    # Someone else's assignment cannot be taken back through this person's page.
    other, _ = person(runtime, db, "tini", nip=NIPS[3], mfa=False)
    role_repo.assign_to_user(db, role_repo.get_or_create_global(db, "helpdesk"), other.id)
    db.commit()
    theirs = db.scalar(select(RoleAssignment).where(RoleAssignment.user_id == other.id))
    assert theirs is not None
    r = admin.post(
        f"/admin/users/{tono.id}/roles/revoke", {"assignment_id": str(theirs.id)}, page=page
    )
    assert r.status_code == 404
    assert db.get(RoleAssignment, theirs.id) is not None


def test_only_admins_give_roles(
    opd_admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    dina, _ = person(runtime, db, "dina", agency="BIDANG-TI", nip=NIPS[4], mfa=False)
    page = f"/admin/users/{dina.id}?tab=roles"
    text = opd_admin.get(page).text
    assert 'id="grant-role"' not in text and "Tidak memegang peran" in text
    r = opd_admin.post(
        f"/admin/users/{dina.id}/roles/grant", {"role": "admin"}, page=f"/admin/users/{dina.id}"
    )  # (a page of theirs with a CSRF token)
    assert r.status_code == 403
    assert not db.scalars(select(RoleAssignment).where(RoleAssignment.user_id == dina.id)).all()
