"""SCIM Groups (agencies): members are the staff working there; adding a member is a transfer
(mutasi), removing one leaves the person without an agency; a client limited to an agency
subtree sees and changes only that subtree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import Agency, AuditEvent, User
from sso.runtime import Runtime
from tests.factories import create_client
from tests.scim.conftest import Scim, staff_body, token_for

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _agency_id(db: Session, code: str) -> int:
    db.expire_all()
    agency = db.scalar(select(Agency).where(Agency.code == code))
    assert agency is not None
    return agency.id


def _user(scim: Scim, name: str, nip: str, department: str = "DISKOMINFO") -> str:
    r = scim.post("/Users", staff_body(name, nip=nip, department=department))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_groups_are_agencies_with_their_staff(scim: Scim, db: Session) -> None:
    budi = _user(scim, "budi", "198501012010011001")
    siti = _user(scim, "siti", "199002142015032002", "DINKES")
    r = scim.get("/Groups", params={"filter": 'displayName co "kesehatan"'})
    (dinkes,) = r.json()["Resources"]
    assert dinkes["members"] == [{"value": siti, "$ref": f"http://testserver/scim/v2/Users/{siti}"}]
    r = scim.get("/Groups", params={"filter": f'members[value eq "{budi}"]'})
    assert [g["displayName"] for g in r.json()["Resources"]] == ["Dinas Komunikasi dan Informatika"]
    r = scim.post(
        "/Groups", {"schemas": [GROUP], "displayName": "Badan Kepegawaian", "externalId": "bkpsdm"}
    )
    assert r.status_code == 201, r.text
    bkpsdm = r.json()
    assert bkpsdm["externalId"] == "bkpsdm" and "members" not in bkpsdm
    assert _agency_id(db, "BKPSDM") == int(bkpsdm["id"])
    # A transfer through the group: budi moves to BKPSDM.
    r = scim.patch(
        f"/Groups/{bkpsdm['id']}", {"op": "add", "path": "members", "value": [{"value": budi}]}
    )
    assert r.status_code == 200, r.text
    assert [m["value"] for m in r.json()["members"]] == [budi]
    db.expire_all()
    person = db.get(User, budi)
    assert person is not None and person.agency_id == int(bkpsdm["id"])
    assert (
        scim.get(f"/Users/{budi}").json()[
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ]["department"]
        == "BKPSDM"
    )
    updated = list(
        db.scalars(
            select(AuditEvent).where(
                AuditEvent.event == "user.updated", AuditEvent.target_id == budi
            )
        )
    )
    assert updated and all(e.client_id == scim.client.client_id for e in updated)
    # A non-empty agency is not deleted (the console's rule); removing the member first is.
    r = scim.delete(f"/Groups/{bkpsdm['id']}")
    assert r.status_code == 409
    r = scim.patch(
        f"/Groups/{bkpsdm['id']}", {"op": "remove", "path": f'members[value eq "{budi}"]'}
    )
    assert r.status_code == 200 and "members" not in r.json()
    assert scim.delete(f"/Groups/{bkpsdm['id']}").status_code == 204
    assert scim.get(f"/Groups/{bkpsdm['id']}").status_code == 404
    r = scim.patch(
        f"/Groups/{dinkes['id']}",
        {"op": "add", "path": "members", "value": [{"value": "no-such-person"}]},
    )
    assert r.status_code == 400


def test_a_client_limited_to_an_agency(scim: Scim, runtime: Runtime, db: Session) -> None:
    budi = _user(scim, "budi", "198501012010011001")
    siti = _user(scim, "siti", "199002142015032002", "DINKES")
    limited, secret = create_client(
        runtime,
        db,
        name="SIMPEG Dinkes",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="scim",
    )
    limited.admin_agency_id = _agency_id(db, "DINKES")
    db.add(limited)
    db.commit()
    local = Scim(scim.http, limited, token_for(scim.http, limited, secret or ""))
    names = [u["userName"] for u in local.get("/Users").json()["Resources"]]
    assert names == ["siti"]
    assert local.get(f"/Users/{budi}").status_code == 404
    assert [g["displayName"] for g in local.get("/Groups").json()["Resources"]] == [
        "Dinas Kesehatan"
    ]
    r = local.post("/Users", staff_body("andi", nip="197712312000121001", department="DISKOMINFO"))
    assert r.status_code == 403
    r = local.patch(
        f"/Users/{siti}",
        {
            "op": "replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "value": "DISKOMINFO",
        },
    )
    assert r.status_code == 403
    r = local.post("/Groups", {"schemas": [GROUP], "displayName": "Puskesmas"})
    assert r.status_code == 403
    assert (
        local.post(
            "/Users", staff_body("andi", nip="197712312000121001", department="DINKES")
        ).status_code
        == 201
    )


def test_root_search_spans_both(scim: Scim) -> None:
    _user(scim, "budi", "198501012010011001")
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "count": 2,
    }
    r = scim.post("/.search", body)
    assert r.json()["totalResults"] == 3 and len(r.json()["Resources"]) == 2
    r = scim.post("/.search", {**body, "startIndex": 2})
    assert [x.get("displayName") for x in r.json()["Resources"]] == [
        "Dinas Komunikasi dan Informatika",
        "Dinas Kesehatan",
    ]
