"""Each resource of the Admin API does what the console does, with the same effects and audit
events: people and their actions, agencies, roles and assignments, clients (secret shown
once), sessions, the audit log, signing keys."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent, Client, LoginSession
from sso.runtime import Runtime
from tests.accounts import mailbox as smtp
from tests.admin.conftest import agencies, person
from tests.admin.test_users import rp_tokens
from tests.api.conftest import MachineFactory, fetch_token
from tests.api.test_basics import API, problem

NIP = "199001012015011005"


def _events(db: Session, name: str) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)).all()
    )


def test_people_create_edit_and_the_console_actions(
    app: FastAPI,
    http: TestClient,
    runtime: Runtime,
    db: Session,
    machine: MachineFactory,
    mailbox: smtp.Mailbox,
) -> None:
    agencies(db)
    m = machine()
    r = http.post(
        f"{API}/users",
        headers=m.auth,
        json={
            "display_name": "Rina Wulandari",
            "nip": NIP,
            "agency": "DINKES",
            "email": "rina@tangerangselatankota.go.id",
            "send_activation": True,
        },
    )
    assert r.status_code == 201, r.text
    rina = r.json()
    assert rina["username"] == NIP and rina["has_password"] is False
    mail = mailbox.wait(1)[0]
    assert mail.to == "rina@tangerangselatankota.go.id" and "/activate" in mail.text
    # duplicate NIP: the console's refusal
    problem(
        http.post(
            f"{API}/users",
            headers=m.auth,
            json={"username": "lain", "display_name": "Lain", "nip": NIP, "agency": "DINKES"},
        ),
        409,
        "error.nip_taken",
    )
    # edit with If-Match
    got = http.get(f"{API}/users/{rina['id']}", headers=m.auth)
    r = http.patch(
        f"{API}/users/{rina['id']}",
        json={"position": "Perawat Ahli", "agency": "DISKOMINFO"},
        headers={**m.auth, "If-Match": got.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["position"] == "Perawat Ahli" and r.json()["agency"] == "DISKOMINFO"
    [updated] = _events(db, "user.updated")
    assert set(updated.details["fields"]) == {"position", "agency_id"}
    # disable: sessions end and grants are revoked at once, as in the console
    user, _ = person(runtime, db, "siti", kind="citizen", mfa=False)
    _token, refresh = rp_tokens(TestClient(app, base_url="http://testserver"), runtime, db, user)
    assert db.scalars(
        select(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    ).all()
    r = http.post(f"{API}/users/{user.id}/disable", headers=m.auth)
    assert r.status_code == 200 and r.json()["status"] == "disabled"
    db.expire_all()
    assert not db.scalars(
        select(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    ).all()
    assert http.post(f"{API}/users/{user.id}/enable", headers=m.auth).json()["status"] == "active"
    for action in ("unlock", "reset-mfa", "end-sessions", "send-reset-link"):
        r = http.post(f"{API}/users/{user.id}/{action}", headers=m.auth)
        assert r.status_code == 200, (action, r.text)
    assert mailbox.wait(2)[-1].to == user.email
    for name in (
        "user.disabled",
        "user.enabled",
        "user.unlocked",
        "user.sessions_ended",
        "user.reset_link_sent",
    ):
        [e] = _events(db, name)
        assert e.details["actor_client_id"] == m.client.client_id and e.actor_id is None, name
    problem(http.post(f"{API}/users/{user.id}/explode", headers=m.auth), 400)


def test_agencies_create_move_merge_delete(
    http: TestClient, db: Session, machine: MachineFactory
) -> None:
    agencies(db)
    m = machine()
    r = http.post(
        f"{API}/agencies",
        headers=m.auth,
        json={"code": "uptd-1", "name": "UPTD Puskesmas", "parent": "DINKES"},
    )
    assert r.status_code == 201 and r.json()["code"] == "UPTD-1"
    assert r.json()["parent"] == "DINKES"
    problem(
        http.post(f"{API}/agencies", headers=m.auth, json={"code": "UPTD-1", "name": "Lagi"}),
        409,
        "admin.agency.code_taken",
    )
    etag = r.headers["etag"]
    r = http.patch(
        f"{API}/agencies/UPTD-1", json={"parent": ""}, headers={**m.auth, "If-Match": etag}
    )
    assert r.status_code == 200 and r.json()["parent"] is None
    r = http.post(f"{API}/agencies/UPTD-1/merge", headers=m.auth, json={"into": "DINKES"})
    assert r.status_code == 200 and r.json()["code"] == "DINKES"
    problem(http.get(f"{API}/agencies/UPTD-1", headers=m.auth), 404)
    etag = http.get(f"{API}/agencies/DINKES", headers=m.auth).headers["etag"]
    assert (
        http.delete(f"{API}/agencies/DINKES", headers={**m.auth, "If-Match": etag}).status_code
        == 204
    )
    assert [
        e.event
        for e in db.scalars(
            select(AuditEvent).where(AuditEvent.event.like("agency.%")).order_by(AuditEvent.id)
        )
    ] == ["agency.created", "agency.moved", "agency.merged", "agency.deleted"]


def test_roles_and_assignments(
    http: TestClient, runtime: Runtime, db: Session, machine: MachineFactory
) -> None:
    agencies(db)
    person(runtime, db, "budi", nip=NIP, mfa=False)
    m = machine()
    r = http.post(
        f"{API}/roles",
        headers=m.auth,
        json={"name": "Publisher", "description": "Publishes datasets"},
    )
    assert r.status_code == 201, r.text
    role = r.json()
    assert role["name"] == "publisher" and role["built_in"] is False
    to_budi = http.post(
        f"{API}/roles/{role['id']}/assignments", headers=m.auth, json={"user": "budi"}
    )
    to_opd = http.post(
        f"{API}/roles/{role['id']}/assignments", headers=m.auth, json={"agency": "DINKES"}
    )
    assert to_budi.status_code == 201 and to_budi.json()["username"] == "budi"
    assert to_opd.json()["agency"] == "DINKES"
    problem(
        http.post(
            f"{API}/roles/{role['id']}/assignments",
            headers=m.auth,
            json={"user": "budi", "agency": "DINKES"},
        ),
        400,
        "invalid_request",
    )
    listed = http.get(f"{API}/roles/{role['id']}/assignments", headers=m.auth).json()["items"]
    assert len(listed) == 2
    assert (
        http.delete(
            f"{API}/roles/{role['id']}/assignments/{to_budi.json()['id']}", headers=m.auth
        ).status_code
        == 204
    )
    assert http.get(f"{API}/roles/{role['id']}", headers=m.auth).json()["assignments"] == 1
    assert http.delete(f"{API}/roles/{role['id']}", headers=m.auth).status_code == 204
    problem(http.get(f"{API}/roles/{role['id']}", headers=m.auth), 404)


def test_clients_register_edit_rotate_disable(
    http: TestClient, db: Session, machine: MachineFactory
) -> None:
    agencies(db)
    m = machine()
    r = http.post(
        f"{API}/clients",
        headers=m.auth,
        json={
            "name": "SIMPEG DINKES",
            "grant_types": ["client_credentials"],
            "scope": "admin:read admin:write",
            "admin_agency": "DINKES",
        },
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["client_secret"] and made["admin_agency"] == "DINKES"
    assert r.headers["cache-control"] == "no-store"
    # the secret is not readable again, and it works at /token
    got = http.get(f"{API}/clients/{made['client_id']}", headers=m.auth)
    assert "client_secret" not in got.json()
    assert fetch_token(http, made["client_id"], made["client_secret"])
    stored = db.scalar(select(Client).where(Client.client_id == made["client_id"]))
    assert stored is not None and made["client_secret"] not in str(stored.client_secret_hash)
    # the same registration rules as everywhere
    problem(
        http.post(
            f"{API}/clients",
            headers=m.auth,
            json={"name": "Web", "redirect_uris": ["javascript:alert(1)"]},
        ),
        400,
    )
    r = http.patch(
        f"{API}/clients/{made['client_id']}",
        json={"admin_agency": ""},
        headers={**m.auth, "If-Match": got.headers["etag"]},
    )
    assert r.status_code == 200 and r.json()["admin_agency"] is None
    rotated = http.post(f"{API}/clients/{made['client_id']}/rotate-secret", headers=m.auth)
    assert rotated.status_code == 200
    new = rotated.json()["client_secret"]
    assert new and new != made["client_secret"]
    old = http.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(made["client_id"], made["client_secret"]),
    )
    assert old.status_code == 401
    assert (
        http.post(f"{API}/clients/{made['client_id']}/disable", headers=m.auth).json()["status"]
        == "disabled"
    )
    problem(
        http.post(f"{API}/clients/{made['client_id']}/disable", headers=m.auth),
        409,
        "admin.client.wrong_status",
    )
    names = [
        e.event
        for e in db.scalars(
            select(AuditEvent)
            .where(AuditEvent.target_id == made["client_id"])
            .order_by(AuditEvent.id)
        )
    ]
    assert names[:1] == ["client.created"] and "client.secret_rotated" in names
    assert "client.disabled" in names


def test_sessions_audit_log_and_keys(
    app: FastAPI, http: TestClient, runtime: Runtime, db: Session, machine: MachineFactory
) -> None:
    m = machine()
    user, _ = person(runtime, db, "siti", kind="citizen", mfa=False)
    rp_tokens(TestClient(app, base_url="http://testserver"), runtime, db, user)
    listed = http.get(f"{API}/sessions", headers=m.auth, params={"username": "SIT"}).json()
    [one] = listed["items"]
    assert one["user_id"] == user.id and one["apps"] == ["Aplikasi Uji"]
    assert http.delete(f"{API}/sessions/{one['id']}", headers=m.auth).status_code == 204
    problem(http.get(f"{API}/sessions/{one['id']}", headers=m.auth), 404)
    # the audit log, newest first, paged both ways and filtered
    r = http.get(f"{API}/audit-events", headers=m.auth, params={"limit": 2})
    first = r.json()["items"]
    assert len(first) == 2 and first[0]["id"] > first[1]["id"] and "next" in r.links
    nxt = http.get(r.links["next"]["url"], headers=m.auth)
    assert nxt.json()["items"][0]["id"] < first[1]["id"]
    assert http.get(nxt.links["prev"]["url"], headers=m.auth).json()["items"] == first
    ended = http.get(
        f"{API}/audit-events", headers=m.auth, params={"event": "session.", "person_id": user.id}
    ).json()["items"]
    assert ended and all(e["event"].startswith("session.") for e in ended)
    one_event = http.get(f"{API}/audit-events/{ended[0]['id']}", headers=m.auth)
    assert one_event.json() == ended[0] and one_event.headers["etag"]
    # keys: rotate, list, retire the old one
    before = {k["kid"]: k["state"] for k in http.get(f"{API}/keys", headers=m.auth).json()["items"]}
    r = http.post(f"{API}/keys/rotate", headers=m.auth, json={"alg": "RS256"})
    assert r.status_code == 200, r.text
    after = {k["kid"]: k for k in r.json()["items"]}
    retired = [
        kid for kid, k in after.items() if k["state"] == "retired" and before.get(kid) == "active"
    ]
    assert retired
    assert all("d" not in k["public_jwk"] for k in after.values())  # public parts only
    r = http.post(f"{API}/keys/{retired[0]}/retire", headers=m.auth)
    assert r.status_code == 200 and r.json()["unpublish_at"]
    assert _events(db, "key.rotated")[0].details["actor_client_id"] == m.client.client_id
