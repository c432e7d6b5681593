"""Destructive admin actions go through one confirmation page (issue 13): what will happen,
counted from the database; the action refuses a POST that skipped the page; every POST ends
in a redirect, so a reload repeats nothing; secrets are shown once on a page of their own."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.admin.confirm import number
from sso.db.models import Agency, Client, InitialAccessToken, LoginSession, Role, SigningKey, User
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.admin.conftest import Browser, confirm, confirm_fields, events, person
from tests.admin.test_users import rp_tokens
from tests.factories import create_client
from tests.oidc.flow import csrf_of

NIPS = [f"19{80 + i:02d}0303201{i % 10}03100{i % 10}" for i in range(6)]


def summary(text: str) -> str:
    """The confirmation's summary as plain text (and every text of the page is translated)."""
    assert not re.search(
        r">[^<]*admin\.(confirm|agency|role|client|keys|sessions)\.[a-z_.-]+", text
    ), text
    found = re.search(r'id="confirm-summary">(.*?)</ul>', text, re.S)
    assert found, text[:2000]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def skip_confirmation(
    b: Browser, page: str, action: str, data: dict[str, str] | None = None
) -> Any:
    """POST straight to the action, with a valid CSRF token but no confirmation."""
    token = csrf_of(b.get(page).text)
    return b.http.post(action, data={**(data or {}), "csrf_token": token}, follow_redirects=False)


def test_numbers_are_grouped_the_local_way() -> None:
    assert number(5361, "id") == "5.361" and number(5361, "en") == "5,361"
    assert number(1234567, "id") == "1.234.567" and number(7, "id") == "7"


def test_disabling_a_user_is_confirmed_with_counts(
    app: FastAPI, admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    staff, _ = person(runtime, db, "dewi", nip=NIPS[0], mfa=False)
    rp_tokens(TestClient(app, base_url="http://testserver"), runtime, db, staff)
    page = f"/admin/users/{staff.id}"
    text = summary(admin.get(f"{page}/disable/confirm").text)
    assert "1 sesi login diakhiri" in text and "1 izin di 1 aplikasi dicabut" in text
    assert "Ends" not in text
    assert "1 login sessions end" in summary(admin.get(f"{page}/disable/confirm?lang=en").text)
    # Without the confirmation: nothing happens, the browser is sent to the page.
    r = skip_confirmation(admin, page, f"{page}/disable")
    assert r.status_code == 303 and r.headers["location"] == f"{page}/disable/confirm"
    db.expire_all()
    assert db.get_one(User, staff.id).status == "active"
    # A confirmation made for another person does not fit this one.
    other, _ = person(runtime, db, "eko", nip=NIPS[1], mfa=False)
    _, fields = confirm_fields(admin.get(f"/admin/users/{other.id}/disable/confirm").text)
    r = admin.http.post(f"{page}/disable", data=fields, follow_redirects=False)
    assert r.headers["location"] == f"{page}/disable/confirm"
    # Confirmed: done, and a reload of the result repeats nothing.
    r = confirm(admin, f"{page}/disable")
    assert r.status_code == 303 and r.headers["location"] == f"{page}?done=disabled"
    for _ in range(2):
        assert admin.get(r.headers["location"]).status_code == 200
    db.expire_all()
    assert db.get_one(User, staff.id).status == "disabled"
    assert len(events(db, "user.disabled", target_id=staff.id)) == 1


def test_reset_mfa_and_end_sessions_show_what_goes(
    app: FastAPI, admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    staff, _ = person(runtime, db, "fitri", nip=NIPS[2])
    page = f"/admin/users/{staff.id}"
    text = summary(admin.get(f"{page}/reset-mfa/confirm").text)
    assert "1 aplikasi autentikator, 0 passkey dan 0 kode pemulihan dihapus" in text
    r = skip_confirmation(admin, page, f"{page}/reset-mfa")
    assert r.status_code == 303 and not events(db, "mfa.reset")
    assert confirm(admin, f"{page}/reset-mfa").status_code == 303
    assert len(events(db, "mfa.reset", target_id=staff.id)) == 1
    rp_tokens(TestClient(app, base_url="http://testserver"), runtime, db, staff)
    assert "1 sesi login diakhiri" in summary(admin.get(f"{page}/end-sessions/confirm").text)
    r = skip_confirmation(admin, page, f"{page}/end-sessions")
    assert r.status_code == 303 and not events(db, "user.sessions_ended")
    assert confirm(admin, f"{page}/end-sessions").status_code == 303
    assert events(db, "user.sessions_ended", target_id=staff.id)[0].details["sessions"] == 1


def test_merge_counts_and_asks_for_the_target_code(
    admin: Browser, runtime: Runtime, db: Session, org: Any, backend: str
) -> None:
    sub, dinkes = org["BIDANG-TI"], org["DINKES"]
    for i in range(2):
        person(runtime, db, f"staf{i}", agency="BIDANG-TI", nip=NIPS[3 + i], mfa=False)
    query = {"agency_id": str(sub.id), "target_id": str(dinkes.id)}
    page = admin.http.get("/admin/agencies/merge/confirm", params=query)
    text = summary(page.text)
    assert "2 pegawai akan dipindahkan ke DINKES" in text and "BIDANG-TI dihapus" in text
    assert "Ketik kode DINKES" in page.text
    # A wrong code is refused with a clear message; nothing changes.
    r = confirm(admin, "/admin/agencies/merge", query, {"typed_code": "DISKOMINFO"})
    assert r.status_code == 303 and "error=admin.confirm.code_mismatch" in r.headers["location"]
    again = admin.get(r.headers["location"])
    assert "tidak sama dengan kode OPD tujuan" in again.text and 'id="confirm-form"' in again.text
    # Without the confirmation (even with the right code): nothing.
    r = skip_confirmation(
        admin, "/admin/agencies", "/admin/agencies/merge", {**query, "typed_code": "DINKES"}
    )
    assert r.status_code == 303 and "/merge/confirm?" in r.headers["location"]
    db.expire_all()
    assert db.get(Agency, sub.id) is not None and not events(db, "agency.merged")
    r = confirm(admin, "/admin/agencies/merge", query, {"typed_code": "DINKES"})
    assert r.headers["location"] == "/admin/agencies?done=merged"
    admin.get(r.headers["location"])
    admin.get(r.headers["location"])
    assert len(events(db, "agency.merged")) == 1


def test_move_and_delete_an_agency(admin: Browser, db: Session, org: Any, backend: str) -> None:
    top, sub, dinkes = org["DISKOMINFO"], org["BIDANG-TI"], org["DINKES"]
    dinkes_id = dinkes.id
    tree = admin.get("/admin/agencies").text
    # No destructive choice is made in advance.
    for select_ in re.findall(r'<select id="(?:parent|target)-\d+".*?</select>', tree, re.S):
        assert "required" in select_ and '<option value="" selected disabled>' in select_
    text = summary(
        admin.http.get(
            "/admin/agencies/move/confirm",
            params={"agency_id": str(sub.id), "parent_id": str(dinkes.id)},
        ).text
    )
    assert "BIDANG-TI beserta 0 sub-OPD dan 0 pegawai dipindahkan ke bawah DINKES" in text
    r = confirm(admin, "/admin/agencies/move", {"agency_id": str(sub.id), "parent_id": "top"})
    assert r.headers["location"] == "/admin/agencies?done=moved"
    db.expire_all()
    assert db.get_one(Agency, sub.id).parent_id is None
    # DISKOMINFO has staff (the admin): it cannot be deleted; DINKES can... once it is empty.
    r = admin.get(f"/admin/agencies/delete/confirm?agency_id={top.id}")
    assert r.status_code == 400 and "masih punya 1 pegawai" in r.text
    text = summary(admin.get(f"/admin/agencies/delete/confirm?agency_id={dinkes.id}").text)
    assert "DINKES kosong: 0 pegawai, 0 sub-OPD" in text
    assert (
        confirm(admin, "/admin/agencies/delete", {"agency_id": str(dinkes.id)}).status_code == 303
    )
    db.expire_all()
    assert db.get(Agency, dinkes_id) is None and events(db, "agency.deleted")


def test_deleting_a_role(
    admin: Browser, runtime: Runtime, db: Session, org: Any, backend: str
) -> None:
    role = role_repo.get_or_create_global(db, "operator")
    role_repo.assign_to_agency(db, role, org["DISKOMINFO"].id)
    staff, _ = person(runtime, db, "gita", nip=NIPS[5], mfa=False)
    role_repo.assign_to_user(db, role, staff.id)
    db.commit()
    role_id = role.id
    page = f"/admin/roles/{role_id}"
    text = summary(admin.get(f"{page}/delete/confirm").text)
    assert "1 orang kehilangan peran ini" in text
    assert "1 OPD (2 pegawai) kehilangan peran ini" in text  # the admin and gita
    assert skip_confirmation(admin, page, f"{page}/delete").status_code == 303
    assert db.get(Role, role_id) is not None
    r = confirm(admin, f"{page}/delete")
    assert r.headers["location"] == "/admin/roles?done=deleted"
    db.expire_all()
    assert db.get(Role, role_id) is None and events(db, "role.deleted")
    builtin = role_repo.get_or_create_global(db, "admin")
    assert admin.get(f"/admin/roles/{builtin.id}/delete/confirm").status_code == 400


def test_rotated_secret_is_shown_once_in_both_languages(
    admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    client, old = create_client(runtime, db, name="Portal Data")
    page = f"/admin/clients/{client.client_id}"
    assert "tetap berlaku" in summary(admin.get(f"{page}/rotate/confirm").text)
    assert skip_confirmation(admin, page, f"{page}/rotate").status_code == 303
    assert not events(db, "client.secret_rotated")
    r = confirm(admin, f"{page}/rotate")
    assert r.status_code == 303 and r.headers["location"] == "/admin/secret"
    assert "secret" not in r.headers["location"].split("/admin/")[0]
    shown = admin.get("/admin/secret")
    secret = re.search(r'id="new-secret">([^<]+)<', shown.text)
    assert secret and shown.headers["cache-control"] == "no-store"
    english = admin.get("/admin/secret?lang=en")
    assert secret.group(1) in english.text and "I have copied it" in english.text
    assert secret.group(1) in admin.get("/admin/secret").text  # a reload keeps it
    r = admin.post("/admin/secret", page="/admin/secret")
    assert r.status_code == 303 and r.headers["location"] == f"{page}?done=secret_gone"
    gone = admin.get("/admin/secret")
    assert secret.group(1) not in gone.text and 'id="secret-gone"' in gone.text
    assert len(events(db, "client.secret_rotated")) == 1
    assert secret.group(1) not in str([e.details for e in events(db, "client.secret_rotated")])


def test_disabling_a_client_and_the_console_client(
    admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    client, _ = create_client(runtime, db, name="Hotspot")
    page = f"/admin/clients/{client.client_id}"
    text = summary(admin.get(f"{page}/disable/confirm").text)
    assert "Hotspot tidak bisa lagi memakai login kota" in text and "0 izin aktif" in text
    assert skip_confirmation(admin, page, f"{page}/disable").status_code == 303
    db.expire_all()
    assert db.get_one(Client, client.id).status == "active"
    assert confirm(admin, f"{page}/disable").headers["location"] == f"{page}?done=disabled"
    db.expire_all()
    assert db.get_one(Client, client.id).status == "disabled"
    r = admin.get("/admin/clients/tangselconsole/disable/confirm")
    assert r.status_code == 400 and 'id="confirm-form"' not in r.text


def test_sessions_and_keys_need_their_confirmation(
    app: FastAPI, admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    a, _ = person(runtime, db, "hana", nip=NIPS[0], mfa=False)
    b, _ = person(runtime, db, "indra", nip=NIPS[1], mfa=False)
    for who in (a, b):
        rp_tokens(TestClient(app, base_url="http://testserver"), runtime, db, who)
    ids = [
        s.id for s in db.scalars(select(LoginSession).where(LoginSession.user_id.in_([a.id, b.id])))
    ]
    page = admin.http.get("/admin/sessions/end/confirm", params={"session_id": ids})
    assert "2 sesi login milik 2 orang diakhiri" in summary(page.text)
    assert (
        skip_confirmation(
            admin, "/admin/agencies", "/admin/sessions/end", {"sessions": ",".join(ids)}
        ).status_code
        == 303
    )
    assert all(
        s.ended_at is None for s in db.scalars(select(LoginSession).where(LoginSession.id.in_(ids)))
    )
    action, fields = confirm_fields(page.text)
    r = admin.http.post(action, data=fields, follow_redirects=False)
    assert r.headers["location"] == "/admin/sessions?done=sessions_ended"
    db.expire_all()
    assert all(
        s.ended_at is not None
        for s in db.scalars(select(LoginSession).where(LoginSession.id.in_(ids)))
    )
    # Keys: a rotation without its confirmation changes nothing.
    admin.get("/admin/keys")
    before = {k.kid for k in db.scalars(select(SigningKey))}
    assert (
        skip_confirmation(
            admin, "/admin/agencies", "/admin/keys/rotate", {"alg": "all"}
        ).status_code
        == 303
    )
    assert {k.kid for k in db.scalars(select(SigningKey))} == before
    assert "kunci berikut mulai menandatangani" in summary(
        admin.get("/admin/keys/rotate/confirm?alg=all").text
    )
    assert 'value="" selected disabled' in admin.get("/admin/keys").text


def test_registration_tokens_issue_once_and_revoke(
    admin: Browser, db: Session, backend: str
) -> None:
    r = admin.post(
        "/admin/registration-tokens", {"description": "CI Dinkes", "days": "7", "max_uses": "3"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/secret"
    shown = admin.get("/admin/secret?lang=en")
    token = re.search(r'id="new-secret">([^<]+)<', shown.text)
    assert token and "CI Dinkes" in shown.text
    assert token.group(1) not in admin.get("/admin/registration-tokens").text
    row = db.scalar(select(InitialAccessToken))
    assert row is not None
    path = f"/admin/registration-tokens/{row.id}/revoke"
    text = summary(admin.get(path + "/confirm?lang=id").text)
    assert "sudah dipakai 0 kali" in text and "3 pendaftaran yang tersisa" in text
    assert skip_confirmation(admin, "/admin/registration-tokens", path).status_code == 303
    db.expire_all()
    assert db.get_one(InitialAccessToken, row.id).revoked_at is None
    assert confirm(admin, path).headers["location"] == "/admin/registration-tokens?done=revoked"
    db.expire_all()
    assert db.get_one(InitialAccessToken, row.id).revoked_at is not None
