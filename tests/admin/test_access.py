"""Who may do what, enforced on the server: each refusal is a direct request (no menu to
hide behind) answered 403 with an ``admin.access_denied`` event; MFA and fresh-login rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import LoginSession
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.admin.conftest import Browser, confirm, confirm_fields, events, login_again, person
from tests.oidc.flow import csrf_of, open_console_page

NIP_X = "199001012015011005"
NIP_Y = "199102022016022006"


@pytest.fixture
def staff_ti(runtime: Runtime, db: Session, org: Any) -> Any:
    return person(runtime, db, "pegawaiti", agency="BIDANG-TI", nip=NIP_X, mfa=False)[0]


@pytest.fixture
def staff_dinkes(runtime: Runtime, db: Session, org: Any) -> Any:
    return person(runtime, db, "pegawaidinkes", agency="DINKES", nip=NIP_Y, mfa=False)[0]


def refused(b: Browser, r: Any, db: Session) -> None:
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert "tidak berwenang" in r.text
    assert events(db, "admin.access_denied", actor_id=b.user.id)


def post_to(b: Browser, path: str, data: dict[str, str] | None = None) -> Any:
    """A forged-but-CSRF-valid POST: the token comes from a page the person may see."""
    token = csrf_of(b.http.get("/password/forgot").text)  # any form of this browser
    return b.http.post(path, data={**(data or {}), "csrf_token": token}, follow_redirects=False)


def test_admin_pages_need_a_second_factor(
    app: FastAPI, runtime: Runtime, db: Session, org: Any, backend: str
) -> None:
    user, _ = person(runtime, db, "tanpamfa", nip=NIP_X, mfa=False)
    http = TestClient(app, base_url="http://testserver")
    assert open_console_page(http, "/account", user.username).status_code == 200
    # Made an admin after logging in with a password only: the session's acr is "1".
    role_repo.assign_to_user(db, role_repo.get_or_create_global(db, "admin"), user.id)
    db.commit()
    r = http.get("/admin", follow_redirects=False)
    assert r.status_code == 303
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert urlsplit(r.headers["location"]).path == "/authorize"
    assert query["acr_values"] == ["2"]
    r = http.post("/admin/users/new", data={"csrf_token": "x"}, follow_redirects=False)
    assert r.status_code in (303, 403)  # never the page


def test_no_admin_role_is_refused(
    app: FastAPI, runtime: Runtime, db: Session, org: Any, backend: str
) -> None:
    user, totp = person(runtime, db, "biasa", nip=NIP_X)
    http = TestClient(app, base_url="http://testserver", headers={"accept": "text/html"})
    r = open_console_page(http, "/admin", user.username, totp_secret=totp)
    assert r.status_code == 403
    assert (
        events(db, "admin.access_denied", actor_id=user.id)[0].details["reason"] == "no_admin_role"
    )


# ---------------------------------------------------------------------------- helpdesk


def test_helpdesk_cannot_edit(helpdesk: Browser, staff_ti: Any, db: Session, backend: str) -> None:
    refused(
        helpdesk,
        post_to(
            helpdesk, f"/admin/users/{staff_ti.id}", {"version": "1", "display_name": "Changed"}
        ),
        db,
    )
    db.expire_all()
    assert staff_ti.display_name == "Pegawaiti"


def test_helpdesk_cannot_disable(
    helpdesk: Browser, staff_ti: Any, db: Session, backend: str
) -> None:
    refused(helpdesk, post_to(helpdesk, f"/admin/users/{staff_ti.id}/disable"), db)


def test_helpdesk_cannot_create_staff(
    helpdesk: Browser, db: Session, org: Any, backend: str
) -> None:
    refused(
        helpdesk,
        post_to(
            helpdesk,
            "/admin/users/new",
            {"display_name": "X", "nip": NIP_Y, "agency_id": str(org["DINKES"].id)},
        ),
        db,
    )


def test_helpdesk_cannot_grant_roles(helpdesk: Browser, db: Session, backend: str) -> None:
    role = role_repo.get_or_create_global(db, "admin")
    db.commit()
    refused(helpdesk, post_to(helpdesk, f"/admin/roles/{role.id}/grant", {"holder": "bantuan"}), db)
    refused(helpdesk, helpdesk.get("/admin/roles"), db)


def test_helpdesk_cannot_touch_an_admin(
    helpdesk: Browser, admin: Browser, db: Session, backend: str
) -> None:
    refused(helpdesk, post_to(helpdesk, f"/admin/users/{admin.user.id}/reset-mfa"), db)
    refused(helpdesk, post_to(helpdesk, f"/admin/users/{admin.user.id}/reset-link"), db)


def test_helpdesk_cannot_read_the_audit_log(helpdesk: Browser, db: Session, backend: str) -> None:
    refused(helpdesk, helpdesk.get("/admin/audit"), db)


def test_helpdesk_may_support(
    helpdesk: Browser, staff_dinkes: Any, db: Session, backend: str
) -> None:
    page = f"/admin/users/{staff_dinkes.id}"
    assert helpdesk.get(page).status_code == 200
    r = helpdesk.post(f"{page}/unlock", page=page)
    assert r.status_code == 303, r.text
    r = confirm(helpdesk, f"{page}/reset-mfa")
    assert r.status_code == 303, r.text
    assert events(db, "user.unlocked", actor_id=helpdesk.user.id, target_id=staff_dinkes.id)
    assert events(db, "mfa.reset", actor_id=helpdesk.user.id, target_id=staff_dinkes.id)
    assert 'id="edit-user"' not in helpdesk.get(page).text  # no edit form for helpdesk


# ---------------------------------------------------------------------------- auditor


def test_auditor_cannot_see_people(
    auditor: Browser, staff_ti: Any, db: Session, backend: str
) -> None:
    refused(auditor, auditor.get("/admin/users"), db)
    refused(auditor, auditor.get(f"/admin/users/{staff_ti.id}"), db)


def test_auditor_cannot_unlock(auditor: Browser, staff_ti: Any, db: Session, backend: str) -> None:
    refused(auditor, post_to(auditor, f"/admin/users/{staff_ti.id}/unlock"), db)


def test_auditor_cannot_change_clients_or_keys(auditor: Browser, db: Session, backend: str) -> None:
    refused(auditor, post_to(auditor, "/admin/keys/rotate"), db)
    refused(auditor, auditor.get("/admin/clients"), db)


def test_auditor_reads_the_audit_log(auditor: Browser, db: Session, backend: str) -> None:
    r = auditor.get("/admin/audit?event=user.login")
    assert r.status_code == 200 and "user.login" in r.text
    csv_text = auditor.get("/admin/audit.csv").text
    assert csv_text.startswith("id,created_at,event")
    assert events(db, "audit.exported", actor_id=auditor.user.id)


# ---------------------------------------------------------------------------- opd-admin


def test_opd_admin_manages_own_subtree(
    opd_admin: Browser, staff_ti: Any, db: Session, backend: str
) -> None:
    page = f"/admin/users/{staff_ti.id}"
    r = opd_admin.post(
        page,
        {
            "version": "1",
            "display_name": "Pegawai TI Baru",
            "email": staff_ti.email,
            "nip": NIP_X,
            "agency_id": str(staff_ti.agency_id),
            "position": "Pranata",
        },
    )
    assert r.status_code == 303, r.text
    db.expire_all()
    assert staff_ti.display_name == "Pegawai TI Baru" and staff_ti.position == "Pranata"
    listing = opd_admin.get("/admin/users").text
    assert "Pegawai TI Baru" in listing and "Pegawaidinkes" not in listing


def test_opd_admin_cannot_see_other_agency(
    opd_admin: Browser, staff_dinkes: Any, db: Session, backend: str
) -> None:
    refused(opd_admin, opd_admin.get(f"/admin/users/{staff_dinkes.id}"), db)


def test_opd_admin_cannot_edit_other_agency(
    opd_admin: Browser, staff_dinkes: Any, db: Session, backend: str
) -> None:
    refused(
        opd_admin,
        post_to(
            opd_admin, f"/admin/users/{staff_dinkes.id}", {"version": "1", "display_name": "Hacked"}
        ),
        db,
    )
    refused(opd_admin, post_to(opd_admin, f"/admin/users/{staff_dinkes.id}/disable"), db)


def test_opd_admin_cannot_move_staff_out(
    opd_admin: Browser, staff_ti: Any, db: Session, org: Any, backend: str
) -> None:
    refused(
        opd_admin,
        post_to(
            opd_admin,
            f"/admin/users/{staff_ti.id}",
            {"version": "1", "display_name": "X", "nip": NIP_X, "agency_id": str(org["DINKES"].id)},
        ),
        db,
    )


def test_opd_admin_cannot_create_staff_elsewhere(
    opd_admin: Browser, db: Session, org: Any, backend: str
) -> None:
    refused(
        opd_admin,
        post_to(
            opd_admin,
            "/admin/users/new",
            {"display_name": "Orang Lain", "nip": NIP_Y, "agency_id": str(org["DINKES"].id)},
        ),
        db,
    )


def test_opd_admin_cannot_reach_citizens(
    opd_admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    citizen, _ = person(runtime, db, "warga", kind="citizen", mfa=False)
    refused(opd_admin, opd_admin.get(f"/admin/users/{citizen.id}"), db)


def test_opd_admin_cannot_manage_agencies_or_clients(
    opd_admin: Browser, db: Session, backend: str
) -> None:
    refused(
        opd_admin,
        post_to(opd_admin, "/admin/agencies/create", {"code": "BARU", "name": "Baru"}),
        db,
    )
    refused(opd_admin, opd_admin.get("/admin/clients"), db)
    refused(opd_admin, opd_admin.get("/admin/sessions"), db)


# ---------------------------------------------------------------------------- general rules


def test_forms_need_csrf(admin: Browser, staff_ti: Any, db: Session, backend: str) -> None:
    r = admin.http.post(f"/admin/users/{staff_ti.id}/disable", data={}, follow_redirects=False)
    assert r.status_code == 403
    db.expire_all()
    assert staff_ti.status == "active"


def test_sensitive_actions_need_a_recent_login(
    admin: Browser, staff_ti: Any, db: Session, backend: str
) -> None:
    role = role_repo.get_or_create_global(db, "helpdesk")
    db.commit()
    page = f"/admin/roles/{role.id}"
    token = csrf_of(admin.get(page).text)
    db.execute(update(LoginSession).values(auth_time=now() - timedelta(minutes=10)))
    r = admin.http.post(
        f"{page}/grant", data={"holder": "pegawaiti", "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["max_age"] == ["300"] and query["acr_values"] == ["2"]
    assert not events(db, "role.granted")
    # The sign-in page says why, fixes the username and offers no registration.
    authorize = admin.http.get(r.headers["location"], follow_redirects=False)
    login = admin.http.get(authorize.headers["location"])
    assert "Masuk lagi untuk melanjutkan" in login.text and "readonly" in login.text
    assert 'value="adminkota"' in login.text and "/register" not in login.text
    en = admin.http.get(authorize.headers["location"] + "?lang=en")
    assert "Sign in again to continue" in en.text
    # Someone else's name in the form does not switch the account.
    r2 = admin.http.post(
        authorize.headers["location"] + "/login",
        data={"username": "pegawaiti", "password": "wrong", "csrf_token": csrf_of(login.text)},
        follow_redirects=False,
    )
    assert r2.status_code == 401 and 'value="adminkota"' in r2.text
    # Logging in again (password and TOTP) returns to the form, filled in as it was.
    again = login_again(admin, r.headers["location"])
    assert again.status_code == 200, again.text
    assert 'name="holder" value="pegawaiti"' in again.text
    assert not events(db, "role.granted")  # nothing was replayed
    r = admin.http.post(
        f"{page}/grant",
        data={"holder": "pegawaiti", "csrf_token": csrf_of(again.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "done=granted" in r.headers["location"]
    assert "sso_admin_resume=" in r.headers.get("set-cookie", "")  # the kept values are dropped
    assert events(db, "role.granted", actor_id=admin.user.id, target_id=staff_ti.id)
    assert 'value="pegawaiti"' not in admin.get(page).text


def test_menu_shows_only_what_a_role_may_use(
    auditor: Browser, helpdesk: Browser, backend: str
) -> None:
    text = auditor.get("/admin").text
    assert 'href="/admin/audit"' in text and 'href="/admin/users"' not in text
    text = helpdesk.get("/admin").text
    assert 'href="/admin/users"' in text and 'href="/admin/roles"' not in text


def test_the_bootstrapped_admin_enrols_a_second_factor_on_the_way_in(
    app: FastAPI, http: TestClient, runtime: Runtime, db: Session, backend: str
) -> None:
    """``sso bootstrap`` makes the first admin with a password only; the first visit to /admin
    asks for TOTP enrolment during the login, then the admin pages open."""
    import html
    import re

    import pyotp

    from sso.accounts.passwords import PasswordHasher
    from sso.accounts.service import NewUser, create_user
    from tests.factories import PASSWORD

    create_user(
        db,
        PasswordHasher(runtime.settings),
        NewUser(
            username="admin",
            email="admin@tangerangselatankota.go.id",
            kind="staff",
            display_name="Administrator",
            email_verified=True,
        ),
        PASSWORD,
        admin=True,
    )
    db.commit()
    r = http.get("/admin", follow_redirects=False)
    r = http.get(r.headers["location"], follow_redirects=False)
    interaction = r.headers["location"]
    page = http.get(interaction)
    http.post(
        f"{interaction}/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    page = http.get(interaction)
    key = re.search(r'id="totp-key">([^<]+)<', page.text)
    assert key, page.text[:2000]
    secret = html.unescape(key.group(1)).replace(" ", "")
    r = http.post(
        f"{interaction}/enrol",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(page.text)},
    )
    found = re.search(r'href="([^"]+)">[^<]*</a></p>', r.text)
    assert r.status_code == 200 and found, r.text[:2000]
    r = http.get(html.unescape(found.group(1)), headers={"accept": "text/html"})
    assert r.status_code == 200 and 'href="/admin/keys"' in r.text


def test_disabling_an_admin_needs_a_recent_login(
    app: FastAPI, admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    other, _ = person(runtime, db, "adminlain", role="admin", nip=NIP_Y)
    page = f"/admin/users/{other.id}"
    token = csrf_of(admin.get(page).text)
    # One click does nothing: it leads to the confirmation page.
    r = admin.http.post(f"{page}/disable", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{page}/disable/confirm"
    confirmation = admin.get(f"{page}/disable/confirm")
    action, fields = confirm_fields(confirmation.text)
    db.execute(update(LoginSession).values(auth_time=now() - timedelta(minutes=10)))
    db.commit()
    r = admin.http.post(action, data=fields, follow_redirects=False)
    assert r.status_code == 303 and "max_age=300" in r.headers["location"]
    db.expire_all()
    assert db.get_one(type(other), other.id).status == "active"
    assert not events(db, "user.disabled")
    # Signing in again leads back to the confirmation page, never to the action done.
    again = login_again(admin, r.headers["location"])
    assert again.status_code == 200 and 'id="confirm-form"' in again.text
    db.expire_all()
    assert db.get_one(type(other), other.id).status == "active"
    action, fields = confirm_fields(again.text)
    r = admin.http.post(action, data=fields, follow_redirects=False)
    assert r.status_code == 303 and "done=disabled" in r.headers["location"]
    assert events(db, "user.disabled", actor_id=admin.user.id, target_id=other.id)


# ----------------------------------------------------------------- no admin role (issue 14 #10)


def test_a_citizen_opening_the_admin_pages_gets_no_access_at_once(
    app: FastAPI, runtime: Runtime, db: Session, backend: str
) -> None:
    """Logged in with a password (no second factor, none enrolled), a citizen who opens /admin
    or a deep link under it gets the "no access" page right away (not a detour through
    enrolling an authenticator app), in their language, with the way back to their account."""
    user, _ = person(runtime, db, "wargabiasa", kind="citizen", mfa=False)
    http = TestClient(app, base_url="http://testserver", headers={"accept": "text/html"})
    assert open_console_page(http, "/account", user.username).status_code == 200
    for path in ("/admin", "/admin/users/abc", "/admin/audit?page=2"):
        r = http.get(path, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code, r.headers.get("location"))
        assert "Tidak ada akses" in r.text
        assert 'href="/account"' in r.text and "Kembali ke akun saya" in r.text
    r = http.get("/admin/clients", headers={"accept-language": "en"}, follow_redirects=False)
    assert r.status_code == 403
    assert "No access" in r.text and "Back to my account" in r.text
    token = csrf_of(http.get("/password/forgot").text)
    r = http.post("/admin/users/new", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 403
    denied = events(db, "admin.access_denied", actor_id=user.id)
    assert len(denied) == 5
    assert {e.details["reason"] for e in denied} == {"no_admin_role"}


def test_someone_not_logged_in_is_asked_who_they_are_before_any_second_factor(
    app: FastAPI, runtime: Runtime, db: Session, org: Any, backend: str
) -> None:
    """Opening /admin logged out asks for a login without the admin's MFA requirement: a person
    without a role then gets the "no access" page; an admin is asked for the second factor."""
    user, _ = person(runtime, db, "wargalain", kind="citizen", mfa=False)
    http = TestClient(app, base_url="http://testserver", headers={"accept": "text/html"})
    r = http.get("/admin/users", follow_redirects=False)
    assert r.status_code == 303
    assert "acr_values" not in parse_qs(urlsplit(r.headers["location"]).query)
    r = open_console_page(http, "/admin/users", user.username)
    assert r.status_code == 403
    assert "Tidak ada akses" in r.text

    boss, totp = person(runtime, db, "kepala", role="admin", nip=NIP_Y)
    http = TestClient(app, base_url="http://testserver", headers={"accept": "text/html"})
    r = open_console_page(http, "/admin/users", boss.username, totp_secret=totp)
    assert r.status_code == 200
    assert http.get("/admin/users", follow_redirects=False).status_code == 200
