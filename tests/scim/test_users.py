"""SCIM Users (staff): create, read, search (filters as SQL), replace, PATCH (a transfer, a
retirement), ETags, errors, auth, and the audit events with the client as actor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import Agency, AuditEvent, Grant, User
from sso.runtime import Runtime
from sso.storage import grants as grant_repo
from tests.factories import create_client
from tests.scim.conftest import ENTERPRISE, MEDIA, Scim, staff_body, token_for

NIPS = ["198501012010011001", "199002142015032002", "197712312000121001", "198811052012022003"]


def _events(db: Session, event: str, target: str) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditEvent).where(AuditEvent.event == event, AuditEvent.target_id == target)
        )
    )


def _create(scim: Scim, **kw: Any) -> dict[str, Any]:
    r = scim.post("/Users", staff_body(**kw))
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_requests_without_a_scim_token_are_refused(
    scim: Scim, runtime: Runtime, db: Session
) -> None:
    r = scim.http.get("/scim/v2/Users")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    r = scim.http.get("/scim/v2/Users", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    other, secret = create_client(
        runtime,
        db,
        name="Report",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="reports",
    )
    token = token_for(scim.http, other, secret or "", scope="reports")
    r = scim.http.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "insufficient_scope" in r.headers["www-authenticate"]
    assert r.json()["status"] == "403"


def test_create_read_and_audit(scim: Scim, db: Session) -> None:
    created = _create(scim)
    assert created["userName"] == "budi.santoso" and created["active"] is True
    assert created[ENTERPRISE] == {"employeeNumber": NIPS[0], "department": "DISKOMINFO"}
    assert created["emails"] == [
        {"value": "budi.santoso@tangerangselatankota.go.id", "type": "work"}
    ]
    r = scim.get(f"/Users/{created['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith(MEDIA)
    assert r.headers["etag"] == created["meta"]["version"]
    assert r.json() == created
    user = db.get(User, created["id"])
    assert user is not None and user.kind == "staff" and user.nip == NIPS[0]
    assert user.password is None  # the person sets a password through an activation link
    (event,) = _events(db, "user.created", created["id"])
    assert event.client_id == scim.client.client_id and event.actor_id is None
    r = scim.get(f"/Users/{created['id']}", h={"If-None-Match": created["meta"]["version"]})
    assert r.status_code == 304


def test_the_console_rules_hold(scim: Scim, db: Session) -> None:
    _create(scim)
    r = scim.post("/Users", staff_body())
    assert r.status_code == 409 and r.json()["scimType"] == "uniqueness"
    r = scim.post("/Users", staff_body("lain", nip="123"))
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue"
    r = scim.post("/Users", staff_body("lain", nip=NIPS[1], department="NOPE"))
    assert r.status_code == 400 and "NOPE" in r.json()["detail"]
    r = scim.post("/Users", staff_body("lain", nip=NIPS[0]))  # the NIP is taken
    assert r.status_code == 409
    r = scim.post("/Users", {"schemas": [], "name": {}})
    assert r.status_code == 400
    assert db.scalar(select(User).where(User.username == "lain")) is None


def _filter(scim: Scim, expression: str, **params: Any) -> list[str]:
    r = scim.get("/Users", params={"filter": expression, **params})
    assert r.status_code == 200, r.text
    return [u["userName"] for u in r.json()["Resources"]]


def test_filters_sorting_and_pages(scim: Scim) -> None:
    _create(scim, user_name="budi", nip=NIPS[0])
    _create(
        scim,
        user_name="siti",
        nip=NIPS[1],
        department="DINKES",
        name={"givenName": "Siti", "familyName": "Aminah"},
        displayName="Siti Aminah",
    )
    _create(scim, user_name="andi", nip=NIPS[2], title="Analis")
    _create(scim, user_name="rina", nip=NIPS[3], active=False, phoneNumbers=[])
    assert _filter(scim, 'userName eq "SITI"') == ["siti"]
    assert sorted(_filter(scim, 'userName ne "siti"')) == ["andi", "budi", "rina"]
    assert _filter(scim, 'displayName co "amin"') == ["siti"]
    assert sorted(_filter(scim, 'userName sw "b" or userName ew "na"')) == ["budi", "rina"]
    assert _filter(scim, "title pr") == ["andi"]
    assert sorted(_filter(scim, "not (phoneNumbers pr)")) == ["rina"]
    assert _filter(scim, "active eq false") == ["rina"]
    assert _filter(scim, f'{ENTERPRISE}:department eq "dinkes"') == ["siti"]
    assert _filter(scim, f'{ENTERPRISE}:employeeNumber eq "{NIPS[2]}"') == ["andi"]
    assert _filter(scim, 'emails[type eq "work" and value sw "siti@"]') == ["siti"]
    assert _filter(scim, 'name.familyName eq "aminah" and active eq true') == ["siti"]
    assert len(_filter(scim, 'meta.created gt "2000-01-01T00:00:00Z"')) == 4
    assert _filter(scim, 'meta.lastModified lt "2000-01-01T00:00:00Z"') == []
    assert _filter(scim, 'nickName eq "x"') == []  # an attribute we do not hold matches nothing
    assert _filter(scim, 'userName co "%"') == []  # LIKE wildcards are escaped
    every = _filter(scim, "userName pr", sortBy="userName", sortOrder="descending")
    assert every == ["siti", "rina", "budi", "andi"]
    r = scim.get("/Users", params={"sortBy": "userName", "startIndex": 2, "count": 2})
    page = r.json()
    assert page["totalResults"] == 4 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [u["userName"] for u in page["Resources"]] == ["budi", "rina"]
    r = scim.get("/Users", params={"count": 0})
    assert r.json()["totalResults"] == 4 and r.json()["Resources"] == []
    r = scim.get("/Users", params={"filter": 'userName eq "x" and'})
    assert r.status_code == 400 and r.json()["scimType"] == "invalidFilter"
    r = scim.get("/Users", params={"filter": "active gt true"})
    assert r.status_code == 400 and r.json()["scimType"] == "invalidFilter"
    r = scim.post(
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName sw "s"',
            "attributes": ["userName"],
        },
    )
    (only,) = r.json()["Resources"]
    assert set(only) == {"schemas", "id", "meta", "userName"}


def test_a_transfer_is_a_patch_of_the_department(scim: Scim, db: Session) -> None:
    created = _create(scim)
    r = scim.patch(
        f"/Users/{created['id']}",
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "DINKES"},
    )
    assert r.status_code == 200, r.text
    assert r.json()[ENTERPRISE]["department"] == "DINKES"
    assert r.headers["etag"] != created["meta"]["version"]
    db.expire_all()
    user = db.get(User, created["id"])
    dinkes = db.scalar(select(Agency).where(Agency.code == "DINKES"))
    assert user is not None and dinkes is not None and user.agency_id == dinkes.id
    updated = _events(db, "user.updated", created["id"])
    assert any("agency_id" in (e.details or {}).get("fields", []) for e in updated)
    assert all(e.client_id == scim.client.client_id for e in updated)


def test_patch_value_paths(scim: Scim) -> None:
    uid = _create(scim)["id"]
    r = scim.patch(
        f"/Users/{uid}",
        {
            "op": "replace",
            "path": 'emails[type eq "work"].value',
            "value": "budi@tangerangselatankota.go.id",
        },
        {"op": "add", "value": {"title": "Pranata Komputer", "name": {"givenName": "Budiman"}}},
        {"op": "remove", "path": "phoneNumbers"},
    )
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["emails"][0]["value"] == "budi@tangerangselatankota.go.id"
    assert body["title"] == "Pranata Komputer" and "phoneNumbers" not in body
    assert body["name"] == {"givenName": "Budiman", "familyName": "Santoso"}
    r = scim.patch(f"/Users/{uid}", {"op": "remove", "path": 'emails[type eq "home"]'})
    assert r.status_code == 400 and r.json()["scimType"] == "noTarget"
    r = scim.patch(f"/Users/{uid}", {"op": "remove"})
    assert r.status_code == 400 and r.json()["scimType"] == "noTarget"
    r = scim.patch(f"/Users/{uid}", {"op": "jump", "path": "title"})
    assert r.status_code == 400 and r.json()["scimType"] == "invalidSyntax"
    r = scim.patch(f"/Users/{uid}", {"op": "replace", "path": "emails[type eq", "value": 1})
    assert r.status_code == 400


def test_retirement_ends_sessions_and_revokes_tokens_at_once(
    scim: Scim, db: Session, runtime: Runtime
) -> None:
    uid = _create(scim)["id"]
    app, _ = create_client(runtime, db, name="Absensi")
    grant = grant_repo.new_grant(client_id=app.client_id, user_id=uid, scope="openid")
    grant_repo.insert_grant(db, grant)
    db.commit()
    r = scim.patch(f"/Users/{uid}", {"op": "replace", "path": "active", "value": False})
    assert r.status_code == 200 and r.json()["active"] is False
    db.expire_all()
    user, row = db.get(User, uid), db.get(Grant, grant.id)
    assert user is not None and user.status == "disabled"
    assert row is not None and row.revoked_at is not None
    (event,) = _events(db, "user.disabled", uid)
    assert event.client_id == scim.client.client_id
    r = scim.patch(f"/Users/{uid}", {"op": "replace", "value": {"active": True}})
    assert r.json()["active"] is True


def test_etags_guard_against_lost_updates(scim: Scim) -> None:
    created = _create(scim)
    uid, version = created["id"], created["meta"]["version"]
    ok = scim.put(f"/Users/{uid}", staff_body(title="Kepala Seksi"), h={"If-Match": version})
    assert ok.status_code == 200 and ok.json()["title"] == "Kepala Seksi"
    stale = scim.put(f"/Users/{uid}", staff_body(title="Staf"), h={"If-Match": version})
    assert stale.status_code == 412 and stale.json()["status"] == "412"
    stale = scim.patch(
        f"/Users/{uid}", {"op": "replace", "path": "title", "value": "x"}, h={"If-Match": version}
    )
    assert stale.status_code == 412
    assert scim.delete(f"/Users/{uid}", h={"If-Match": version}).status_code == 412
    assert scim.get(f"/Users/{uid}").json()["title"] == "Kepala Seksi"


def test_delete_and_unknown(scim: Scim, db: Session) -> None:
    uid = _create(scim)["id"]
    assert scim.delete(f"/Users/{uid}").status_code == 204
    assert scim.get(f"/Users/{uid}").status_code == 404
    assert scim.delete(f"/Users/{uid}").status_code == 404
    (event,) = _events(db, "user.deleted", uid)
    assert event.client_id == scim.client.client_id
    r = scim.get("/Nothing")
    assert r.status_code == 404 and r.json()["schemas"][0].endswith(":Error")
    assert scim.post("/ServiceProviderConfig", {}).status_code == 405


def test_discovery(scim: Scim) -> None:
    config = scim.get("/ServiceProviderConfig").json()
    assert config["patch"]["supported"] and config["filter"]["supported"]
    assert config["etag"]["supported"] and config["sort"]["supported"]
    assert not config["bulk"]["supported"]
    schemas = {s["id"]: s for s in scim.get("/Schemas").json()["Resources"]}
    department = next(a for a in schemas[ENTERPRISE]["attributes"] if a["name"] == "department")
    assert set(department["canonicalValues"]) == {"DISKOMINFO", "DINKES"}
    types = scim.get("/ResourceTypes").json()["Resources"]
    assert {t["id"] for t in types} == {"User", "Group"}
    assert scim.get("/ResourceTypes/User").json()["schemaExtensions"][0]["schema"] == ENTERPRISE
