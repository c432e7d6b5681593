"""One set of rules: what the admin console refuses, the Admin API refuses too, with the same
reason (the console's catalogue key is the problem's type), and nothing changes either way.

The console is driven by people logged in with a second factor (tests.admin.conftest); the
API by machine clients with real tokens: an unlimited one (an admin) and one limited to
DISKOMINFO (an opd-admin of it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import Agency, AuditEvent, Client, Role, SigningKey, User
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.admin.conftest import (
    NIP_ADMIN,
    NIP_OPD,
    Browser,
    agencies,
    browser,
    confirm,
    person,
)
from tests.api.conftest import Machine, MachineFactory
from tests.api.test_basics import API, problem

NIP_STAFF_DINKES = "199001012015011005"
NIP_ADMIN_OPD = "199102022016022006"


@dataclass
class World:
    org: dict[str, Agency]
    admin: Browser  # console, role admin (DISKOMINFO)
    opd: Browser  # console, role opd-admin of DISKOMINFO
    full: Machine  # API, unlimited
    limited: Machine  # API, limited to DISKOMINFO
    dinkes_staff: User
    local_admin: User  # an admin working at BIDANG-TI (below DISKOMINFO)


@pytest.fixture
def world(
    app: FastAPI, http: TestClient, runtime: Runtime, db: Session, machine: MachineFactory
) -> Iterator[World]:
    org = agencies(db)
    admin_user, admin_totp = person(runtime, db, "adminkota", role="admin", nip=NIP_ADMIN)
    opd_user, opd_totp = person(runtime, db, "adminopd", role="opd-admin", nip=NIP_OPD)
    dinkes, _ = person(runtime, db, "perawat", agency="DINKES", nip=NIP_STAFF_DINKES, mfa=False)
    local_admin, _ = person(
        runtime, db, "adminti", role="admin", agency="BIDANG-TI", nip=NIP_ADMIN_OPD, mfa=False
    )
    w = World(
        org,
        browser(app, admin_user, admin_totp),
        browser(app, opd_user, opd_totp),
        machine(name="SOC"),
        machine(name="SIMPEG DISKOMINFO", agency="DISKOMINFO"),
        dinkes,
        local_admin,
    )
    yield w
    w.admin.http.close()
    w.opd.http.close()


def _denials(db: Session) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.event == "admin.access_denied")
            .order_by(AuditEvent.id)
        ).all()
    )


def _status(db: Session, user: User) -> str:
    db.expire_all()
    found = db.get(User, user.id)
    assert found is not None
    return found.status


def test_outside_the_agency_is_refused_in_both(world: World, http: TestClient, db: Session) -> None:
    w = world
    target = f"/admin/users/{w.dinkes_staff.id}"
    assert w.opd.get(target).status_code == 403
    r = w.opd.post(f"{target}/unlock", page="/admin/users")
    assert r.status_code == 403
    before = len(_denials(db))
    problem(
        http.get(f"{API}/users/{w.dinkes_staff.id}", headers=w.limited.auth), 403, "admin.forbidden"
    )
    body = problem(
        http.post(f"{API}/users/{w.dinkes_staff.id}/disable", headers=w.limited.auth),
        403,
        "admin.forbidden",
    )
    assert body["reason"] == "outside_scope"
    assert _status(db, w.dinkes_staff) == "active"
    denied = _denials(db)[before:]
    assert [d.details["reason"] for d in denied] == ["outside_scope", "outside_scope"]
    assert all(d.client_id == w.limited.client.client_id for d in denied)
    # the unlimited client (an admin) may
    assert http.get(f"{API}/users/{w.dinkes_staff.id}", headers=w.full.auth).status_code == 200


def test_the_lists_show_what_an_opd_admin_sees(world: World, http: TestClient) -> None:
    w = world
    page = w.opd.get("/admin/users").text
    listed = {
        u["username"]
        for u in http.get(f"{API}/users", headers=w.limited.auth, params={"limit": 200}).json()[
            "items"
        ]
    }
    assert listed == {"adminkota", "adminopd", "adminti"}
    for username in ("adminkota", "adminopd", "adminti"):
        assert username in page
    assert "perawat" not in page
    # asking for DINKES or citizens gives nothing more
    other = http.get(
        f"{API}/users", headers=w.limited.auth, params={"agency": "DINKES", "kind": "citizen"}
    ).json()["items"]
    assert other == []
    codes = {a["code"] for a in http.get(f"{API}/agencies", headers=w.limited.auth).json()["items"]}
    assert codes == {"DISKOMINFO", "BIDANG-TI"}
    problem(http.get(f"{API}/agencies/DINKES", headers=w.limited.auth), 404)


def test_an_admin_is_out_of_an_opd_admins_reach(
    world: World, http: TestClient, db: Session
) -> None:
    w = world
    target = f"/admin/users/{w.local_admin.id}"
    assert w.opd.get(target).status_code == 403
    body = problem(
        http.post(f"{API}/users/{w.local_admin.id}/reset-mfa", headers=w.limited.auth),
        403,
        "admin.forbidden",
    )
    assert body["reason"] == "target_is_admin"


def test_creating_staff_elsewhere_is_refused(world: World, http: TestClient, db: Session) -> None:
    w = world
    r = w.opd.post(
        "/admin/users/new",
        {"username": "baru", "display_name": "Staf Baru", "agency_id": str(w.org["DINKES"].id)},
    )
    assert r.status_code == 403
    problem(
        http.post(
            f"{API}/users",
            headers=w.limited.auth,
            json={"username": "baru", "display_name": "Staf Baru", "agency": "DINKES"},
        ),
        403,
        "admin.forbidden",
    )
    assert db.scalar(select(User).where(User.username == "baru")) is None
    # in its own subtree it may
    r = http.post(
        f"{API}/users",
        headers=w.limited.auth,
        json={
            "username": "baru",
            "display_name": "Staf Baru",
            "agency": "BIDANG-TI",
            "nip": "199505052020051001",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["agency"] == "BIDANG-TI" and r.json()["kind"] == "staff"


def test_what_only_admins_may_do_is_refused(world: World, http: TestClient) -> None:
    w = world
    for page, path in (
        ("/admin/clients", "/clients"),
        ("/admin/keys", "/keys"),
        ("/admin/sessions", "/sessions"),
        ("/admin/roles", "/roles"),
        ("/admin/audit", "/audit-events"),
    ):
        assert w.opd.get(page).status_code == 403, page
        body = problem(http.get(API + path, headers=w.limited.auth), 403, "admin.forbidden")
        assert body["reason"] == "not_permitted"
    problem(
        http.post(
            f"{API}/agencies", headers=w.limited.auth, json={"code": "BARU", "name": "OPD Baru"}
        ),
        403,
        "admin.forbidden",
    )
    # and a read-only token changes nothing, whatever the client may do
    r = http.post(
        f"{API}/agencies",
        headers={"Authorization": "Bearer " + w.full.token},
        json={"code": "BARU", "name": "OPD Baru"},
    )
    assert r.status_code == 201


def test_the_console_client_is_never_disabled(world: World, http: TestClient, db: Session) -> None:
    w = world
    w.admin.get("/admin")  # the console's client exists once someone used the console
    r = w.admin.get("/admin/clients/tangselconsole/disable/confirm")
    assert r.status_code == 400
    problem(
        http.post(f"{API}/clients/tangselconsole/disable", headers=w.full.auth),
        400,
        "admin.client.built_in",
    )
    console = db.scalar(select(Client).where(Client.client_id == "tangselconsole"))
    assert console is not None and console.status == "active"


def test_a_non_empty_agency_is_not_deleted(world: World, http: TestClient, db: Session) -> None:
    w = world
    top = w.org["DISKOMINFO"]
    r = w.admin.get(f"/admin/agencies/delete/confirm?agency_id={top.id}")
    assert r.status_code == 400
    etag = http.get(f"{API}/agencies/DISKOMINFO", headers=w.full.auth).headers["etag"]
    body = problem(
        http.delete(f"{API}/agencies/DISKOMINFO", headers={**w.full.auth, "If-Match": etag}),
        409,
        "admin.agency.not_empty",
    )
    assert body["params"] == {"staff": 2, "subs": 1}
    db.expire_all()
    assert db.get(Agency, top.id) is not None


def test_an_agency_with_a_limited_client_is_not_deleted(
    world: World, http: TestClient, db: Session
) -> None:
    w = world
    empty = w.org["DINKES"]
    w.limited.client.admin_agency_id = empty.id  # now limited to DINKES (staff: perawat)
    db.commit()
    user = db.get(User, w.dinkes_staff.id)
    assert user is not None
    user.agency_id = None
    db.commit()
    page = w.admin.get(f"/admin/clients/{w.limited.client.client_id}").text
    assert 'id="client-admin-agency"' in page and "terbatas pada OPD DINKES" in page
    r = confirm(w.admin, "/admin/agencies/delete", {"agency_id": str(empty.id)})
    assert r.status_code == 303 and "error=admin.agency.has_api_clients" in r.headers["location"]
    etag = http.get(f"{API}/agencies/DINKES", headers=w.full.auth).headers["etag"]
    problem(
        http.delete(f"{API}/agencies/DINKES", headers={**w.full.auth, "If-Match": etag}),
        409,
        "admin.agency.has_api_clients",
    )


def test_the_last_admin_stays(
    world: World, http: TestClient, runtime: Runtime, db: Session
) -> None:
    """adminkota is made the only admin, through their agency SETDA (which has no one
    else): moving them elsewhere (console, API), disabling them or taking the role from
    SETDA (API) would leave nobody to administer."""
    from tests.factories import create_agency

    w = world
    setda = create_agency(db, "SETDA", "Sekretariat Daerah")
    admin_role = role_repo.get(db, "admin", None)
    assert admin_role is not None
    role_repo.delete_assignments(db, admin_role.id)
    role_repo.assign_to_agency(db, admin_role, setda.id)
    me = db.get(User, w.admin.user.id)
    assert me is not None
    me.agency_id = setda.id
    db.commit()
    r = w.admin.post(
        f"/admin/users/{me.id}",
        {
            "version": str(me.version),
            "display_name": "Admin Kota",
            "email": me.email or "",
            "nip": NIP_ADMIN,
            "agency_id": str(w.org["DINKES"].id),
        },
        page=f"/admin/users/{me.id}",
    )
    assert r.status_code == 409 and "admin aktif terakhir" in r.text
    r = http.get(f"{API}/users/{me.id}", headers=w.full.auth)
    problem(
        http.patch(
            f"{API}/users/{me.id}",
            json={"agency": "DINKES"},
            headers={**w.full.auth, "If-Match": r.headers["etag"]},
        ),
        409,
        "admin.error.last_admin",
    )
    problem(
        http.post(f"{API}/users/{me.id}/disable", headers=w.full.auth),
        409,
        "admin.error.last_admin",
    )
    held = http.get(f"{API}/roles/{admin_role.id}/assignments", headers=w.full.auth).json()
    [only] = held["items"]
    assert only["agency"] == "SETDA"
    problem(
        http.delete(f"{API}/roles/{admin_role.id}/assignments/{only['id']}", headers=w.full.auth),
        409,
        "admin.error.last_admin",
    )
    assert _status(db, me) == "active"
    assert db.get_one(User, me.id).agency_id == setda.id
    # With a second admin, the same disable goes through.
    role_repo.assign_to_user(db, admin_role, w.local_admin.id)
    db.commit()
    assert http.post(f"{API}/users/{me.id}/disable", headers=w.full.auth).status_code == 200
    assert _status(db, me) == "disabled"


def test_built_in_roles_and_the_active_key_stay(
    world: World, http: TestClient, db: Session
) -> None:
    w = world
    role = db.scalars(select(Role).where(Role.name == "opd-admin")).one()
    assert w.admin.get(f"/admin/roles/{role.id}/delete/confirm").status_code == 400
    problem(http.delete(f"{API}/roles/{role.id}", headers=w.full.auth), 400, "admin.role.built_in")
    active = db.scalars(select(SigningKey).where(SigningKey.state == "active")).first()
    assert active is not None
    r = w.admin.get(f"/admin/keys/retire/confirm?kid={active.kid}")
    assert r.status_code == 409
    problem(http.post(f"{API}/keys/{active.kid}/retire", headers=w.full.auth), 409)


def test_an_agency_is_not_moved_below_itself(world: World, http: TestClient) -> None:
    w = world
    top, sub = w.org["DISKOMINFO"], w.org["BIDANG-TI"]
    r = w.admin.http.get(
        "/admin/agencies/move/confirm", params={"agency_id": str(top.id), "parent_id": str(sub.id)}
    )
    assert r.status_code == 400
    etag = http.get(f"{API}/agencies/DISKOMINFO", headers=w.full.auth).headers["etag"]
    problem(
        http.patch(
            f"{API}/agencies/DISKOMINFO",
            json={"parent": "BIDANG-TI"},
            headers={**w.full.auth, "If-Match": etag},
        ),
        400,
        "admin.agency.cycle",
    )
