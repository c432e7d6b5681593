"""Agencies, roles, clients, sessions, signing keys and the audit log in the admin UI."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import Agency, Client, LoginSession, Role, RoleAssignment, SigningKey, User
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.admin.conftest import Browser, confirm, events, person
from tests.admin.test_users import rp_tokens
from tests.factories import create_client
from tests.oidc.flow import csrf_of

NIP_A = "199001012015011007"
NIP_B = "199102022016022008"


def test_agency_tree_move_and_merge(
    admin: Browser, runtime: Runtime, db: Session, org: Any, backend: str
) -> None:
    top, sub, dinkes = org["DISKOMINFO"], org["BIDANG-TI"], org["DINKES"]
    sub_id, dinkes_id = sub.id, dinkes.id
    r = admin.post(
        "/admin/agencies/create",
        {"code": "seksi-data", "name": "Seksi Data", "parent_id": str(sub.id)},
        page="/admin/agencies",
    )
    assert r.status_code == 303
    seksi = db.scalar(select(Agency).where(Agency.code == "SEKSI-DATA"))
    assert seksi is not None and seksi.parent_id == sub.id
    tree = admin.get("/admin/agencies").text
    assert (
        tree.index('data-code="DISKOMINFO"')
        < tree.index('data-code="BIDANG-TI"')
        < tree.index('data-code="SEKSI-DATA"')
    )
    # Moving DISKOMINFO under its own grandchild would make a cycle.
    r = admin.get(f"/admin/agencies/move/confirm?agency_id={top.id}&parent_id={seksi.id}")
    assert r.status_code == 400 and "ke bawah dirinya sendiri" in r.text
    # A stale rename is a conflict.
    r = admin.post(
        "/admin/agencies/rename",
        {"agency_id": str(dinkes.id), "version": "99", "name": "Dinas Kesehatan Kota"},
        page="/admin/agencies",
    )
    assert r.status_code == 303 and "error=admin.conflict" in r.headers["location"]
    assert "diubah orang lain" in admin.get(r.headers["location"]).text
    # Merge BIDANG-TI into DINKES: staff, agency roles and sub-agencies go along.
    staff, _ = person(runtime, db, "pindahan", agency="BIDANG-TI", nip=NIP_A, mfa=False)
    organizer = role_repo.get_or_create_global(db, "operator")
    role_repo.assign_to_agency(db, organizer, sub.id)
    db.commit()
    staff_id, seksi_id = staff.id, seksi.id
    r = confirm(
        admin,
        "/admin/agencies/merge",
        {"agency_id": str(sub.id), "target_id": str(dinkes.id)},
        {"typed_code": "dinkes"},
    )
    assert r.status_code == 303 and "done=merged" in r.headers["location"], r.text
    db.expire_all()
    assert db.get(Agency, sub_id) is None
    assert db.get_one(User, staff_id).agency_id == dinkes_id
    assert db.get_one(Agency, seksi_id).parent_id == dinkes_id
    assert role_repo.role_names_for(db, staff_id, dinkes_id, None) == ["operator"]
    merged = events(db, "agency.merged", actor_id=admin.user.id)[0]
    assert merged.details["staff_moved"] == 1 and merged.details["roles_moved"] == 1


def test_app_role_for_an_agency_reaches_the_roles_claim(
    admin: Browser, http: TestClient, runtime: Runtime, db: Session, backend: str
) -> None:
    staff, _ = person(runtime, db, "panitia", agency="BIDANG-TI", nip=NIP_A, mfa=False)
    client, event_secret = create_client(runtime, db, name="Acara Kota", trusted=True)
    r = admin.post(
        "/admin/roles",
        {"name": "organizer", "client_id": client.client_id, "description": "Panitia acara"},
        page="/admin/roles",
    )
    assert r.status_code == 303
    role = db.scalar(select(Role).where(Role.name == "organizer"))
    assert role is not None and role.client_id == client.id
    page = f"/admin/roles/{role.id}"
    r = admin.post(f"{page}/grant", {"holder": "agency:BIDANG-TI"}, page=page)
    assert r.status_code == 303 and "done=granted" in r.headers["location"]
    assert "BIDANG-TI" in admin.get(page).text
    assert events(db, "role.granted", actor_id=admin.user.id, target_type="agency")
    # The event app gets the role in its tokens; another app does not.
    from tests.oidc.flow import authorize_url, login, query_of

    req = authorize_url(client.client_id, scope="openid roles")
    code = query_of(login(http, req, "panitia"))["code"]
    r = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://rp.example.id/callback",
            "code_verifier": req.verifier,
        },
        auth=(client.client_id, event_secret or ""),
    )
    assert r.status_code == 200, r.text
    info = http.get("/userinfo", headers={"authorization": f"Bearer {r.json()['access_token']}"})
    assert "organizer" in info.json()["roles"]
    other, _ = rp_tokens(http, runtime, db, staff)
    info = http.get("/userinfo", headers={"authorization": f"Bearer {other}"}).json()
    assert "organizer" not in info.get("roles", [])
    # Revoking takes it away.
    assignment = db.scalar(select(RoleAssignment).where(RoleAssignment.role_id == role.id))
    assert assignment is not None
    r = admin.post(f"{page}/revoke", {"assignment_id": str(assignment.id)}, page=page)
    assert r.status_code == 303
    assert role_repo.role_names_for(db, staff.id, staff.agency_id, client.id) == []


def test_review_edit_rotate_and_disable_a_client(
    admin: Browser, http: TestClient, runtime: Runtime, db: Session, backend: str
) -> None:
    pending, _ = create_client(runtime, db, name="Aplikasi Pengembang", status="pending")
    page = f"/admin/clients/{pending.client_id}"
    assert "Menunggu persetujuan" in admin.get("/admin/clients?status=pending").text
    r = admin.post(f"{page}/approve", {"note": "Sudah diperiksa"}, page=page)
    assert r.status_code == 303
    db.expire_all()
    row = db.get(Client, pending.id)
    assert row is not None and row.status == "active" and row.reviewed_by_id == admin.user.id
    assert row.review_note == "Sudah diperiksa" and row.reviewed_at is not None
    assert events(db, "client.approved", actor_id=admin.user.id)
    # Edits are checked like registrations.
    form = {
        "version": str(row.version),
        "redirect_uris": "javascript:alert(1)",
        "grant_types": "authorization_code",
        "scope": "openid",
    }
    r = admin.post(f"{page}/edit", form, page=page)
    assert r.status_code == 400 and "Skema ini tidak diizinkan" in r.text
    form["redirect_uris"] = "https://app.tangsel.go.id/cb\nhttps://app.tangsel.go.id/cb2"
    form["access_token_lifetime"] = "600"
    r = admin.post(f"{page}/edit", form, page=page)
    assert r.status_code == 303
    db.expire_all()
    row = db.get(Client, pending.id)
    assert (
        row is not None
        and row.redirect_uris[1].endswith("/cb2")
        and row.access_token_lifetime == 600
    )
    stale = admin.post(f"{page}/edit", {**form, "access_token_lifetime": "900"}, page=page)
    assert stale.status_code == 409  # the form said version 1; the client is past it
    # Rotation shows the secret once.
    r = confirm(admin, f"{page}/rotate")
    assert r.status_code == 303 and r.headers["location"] == "/admin/secret"
    import re

    shown = re.search(r'id="new-secret">([^<]+)<', admin.get("/admin/secret").text)
    assert shown is not None and shown.group(1) not in admin.get(page).text
    assert events(db, "client.secret_rotated")
    # Disabling stops its tokens at introspection.
    client, secret = create_client(
        runtime,
        db,
        name="Mesin",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="openid",
    )
    token = http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, secret or "")
    ).json()["access_token"]
    assert http.post(
        "/introspect", data={"token": token}, auth=(client.client_id, secret or "")
    ).json()["active"]
    page = f"/admin/clients/{client.client_id}"
    assert confirm(admin, f"{page}/disable").status_code == 303
    probe, probe_secret = create_client(
        runtime,
        db,
        name="Pemeriksa",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="openid",
    )
    r = http.post("/introspect", data={"token": token}, auth=(probe.client_id, probe_secret or ""))
    assert r.json() == {"active": False}
    assert events(db, "client.disabled", actor_id=admin.user.id)


def test_sessions_and_keys(admin: Browser, runtime: Runtime, db: Session, backend: str) -> None:
    from fastapi import FastAPI  # noqa: F401

    text = admin.get("/admin/sessions").text
    assert admin.user.display_name in text
    own = db.scalar(select(LoginSession).where(LoginSession.user_id == admin.user.id))
    assert own is not None
    keys_before = {k.kid for k in db.scalars(select(SigningKey))}
    assert confirm(admin, "/admin/keys/rotate", {"alg": "all"}).status_code == 303
    db.expire_all()
    keys = db.scalars(select(SigningKey)).all()
    assert {k.kid for k in keys} > keys_before
    rotated = events(db, "key.rotated")
    assert rotated and rotated[-1].actor_id == admin.user.id
    nxt = next(k for k in keys if k.state == "next")
    assert confirm(admin, "/admin/keys/retire", {"kid": nxt.kid}).status_code == 303
    active = next(k for k in keys if k.state == "active")
    r = admin.get(f"/admin/keys/retire/confirm?kid={active.kid}")
    assert r.status_code == 409
    # Ending a session (here: the admin's own) logs that browser out.
    r = confirm(admin, "/admin/sessions/end", {"session_id": own.id})
    assert r.status_code == 303
    assert admin.get("/admin").status_code == 303


def test_audit_log_filters_pages_export_and_is_append_only(
    admin: Browser, auditor: Browser, db: Session, backend: str
) -> None:
    text = auditor.get(f"/admin/audit?actor={admin.user.username}&event=user.login").text
    assert "user.login" in text and "mfa.verified" not in text
    everything = auditor.get("/admin/audit").text
    assert "mfa.verified" in everything
    rows = list(csv.reader(io.StringIO(auditor.get("/admin/audit.csv?event=user.").text)))
    assert rows[0][:3] == ["id", "created_at", "event"]
    assert rows[1:] and all(r[2].startswith("user.") for r in rows[1:])
    assert "attachment" in auditor.get("/admin/audit.csv").headers["content-disposition"]
    token = csrf_of(auditor.get("/password/forgot").text)
    for method in ("POST", "PUT", "DELETE"):
        r = auditor.http.request(method, "/admin/audit", data={"csrf_token": token})
        assert r.status_code == 405
    first = db.scalar(select(Role))  # noqa: F841 (nothing else to arrange)
    date_filtered = auditor.get("/admin/audit?from=2000-01-01&to=2000-01-02").text
    assert "Tidak ada kejadian yang cocok dengan saringan ini" in date_filtered
