"""``POST /Users`` of an active person takes the provisioning path (:mod:`sso.scim.provision`):
it must make the same person, audit row, webhook outbox row and after-commit event as the
console's create (:func:`sso.scim.staff.create`), and refuse the same bodies in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.core.events import Event
from sso.db.models import Agency, AuditEvent, User, WebhookEvent
from sso.runtime import Runtime
from sso.scim import staff
from sso.scim.changes import authority, write
from sso.storage import audit_feed
from sso.web.machine_auth import MachineCaller
from sso.webhooks import subscriptions
from tests.factories import create_client
from tests.scim.conftest import Scim, staff_body, token_for
from tests.webhooks.receiver import Receiver

NIPS = ["198501012010011001", "199002142015032002", "197712312000121001", "198811052012022003"]
# What two creates of the same kind of person must share (not ids, names or times).
SAME = (
    "kind",
    "status",
    "email_verified",
    "phone_verified",
    "locale",
    "version",
    "agency_id",
    "position",
    "phone",
    "given_name",
    "family_name",
    "display_name",
    "display_name_search",
    "nik_encrypted",
    "nik_hash",
    "nik_verified",
    "last_login_at",
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _person(db: Session, user_id: str) -> User:
    db.expire_all()
    user = db.get(User, user_id)
    assert user is not None
    return user


def _created_event(db: Session, user_id: str) -> AuditEvent:
    (event,) = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event == Event.USER_CREATED, AuditEvent.target_id == user_id
        )
    )
    return event


def test_the_same_person_and_audit_row_as_the_console_create(
    scim: Scim, runtime: Runtime, db: Session
) -> None:
    r = scim.post("/Users", staff_body("budi.santoso", nip=NIPS[0]))
    assert r.status_code == 201, r.text
    fast = _person(db, r.json()["id"])
    # The console's create, through the ORM, for a person with the same shape.
    caller = MachineCaller(scim.client, frozenset({"scim"}), None, None, "jti")
    values = staff.values_from(staff_body("siti.rahma", nip=NIPS[1]))
    made = write(
        db,
        caller,
        lambda: staff.create(db, runtime.password_hasher, values, who=authority(db, caller)),
    )
    slow = _person(db, made.id)
    assert {k: getattr(fast, k) for k in SAME} == {k: getattr(slow, k) for k in SAME}
    assert fast.username == "budi.santoso" and fast.username_normalized == "budi.santoso"
    assert fast.email_normalized == "budi.santoso@tangerangselatankota.go.id"
    assert fast.nip == NIPS[0] and fast.external_id == f"simpeg-{NIPS[0]}"
    assert fast.search_text == (
        f"budi santoso budi.santoso budi.santoso@tangerangselatankota.go.id {NIPS[0]}"
    )
    assert fast.created_at == fast.updated_at and fast.password is None
    a, b = _created_event(db, fast.id), _created_event(db, slow.id)
    for column in ("outcome", "actor_id", "target_type", "client_id", "details"):
        assert getattr(a, column) == getattr(b, column), column
    assert a.details == {"kind": "staff", "admin": False} and a.actor_id is None
    assert a.client_id == scim.client.client_id and a.request_id
    # The answer is what a read gives (RFC 7644 §3.3: 201, Location, ETag, the resource).
    assert r.headers["location"] == r.json()["meta"]["location"]
    assert r.headers["etag"] == 'W/"1"'
    again = scim.get(f"/Users/{fast.id}")
    assert again.status_code == 200 and again.json() == r.json()


def test_refusals_come_in_the_console_order(scim: Scim, runtime: Runtime, db: Session) -> None:
    first = scim.post("/Users", staff_body("budi", nip=NIPS[0]))
    assert first.status_code == 201

    def refused(body: dict[str, Any], status: int, scim_type: str | None, word: str) -> None:
        r = scim.post("/Users", body)
        assert r.status_code == status, r.text
        assert r.json().get("scimType") == scim_type and word in r.json()["detail"], r.text

    taken_external = {"externalId": f"simpeg-{NIPS[0]}"}
    # The externalId is checked before anything else, even a NIP of the wrong shape.
    refused(staff_body("lain", nip="123", **taken_external), 409, "uniqueness", "externalId")
    refused(staff_body("lain", nip="123"), 400, "invalidValue", "NIP")
    refused(staff_body("bad name!", nip=NIPS[1]), 400, "invalidValue", "")
    bad_email = staff_body("lain", nip=NIPS[1], emails=[{"value": "not-an-email"}])
    refused(bad_email, 400, "invalidValue", "email")
    refused(staff_body("lain", nip=NIPS[1], department="NOPE"), 400, "invalidValue", "NOPE")
    refused(staff_body("BUDI", nip=NIPS[1]), 409, "uniqueness", "budi")
    same_email = staff_body(
        "lain", nip=NIPS[1], emails=[{"value": "BUDI@tangerangselatankota.go.id"}]
    )
    refused(same_email, 409, "uniqueness", "email")
    refused(staff_body("lain", nip=NIPS[0], externalId="x"), 409, "uniqueness", "NIP")
    # Outside the client's agency: 403 (after the checks above), and nothing written.
    limited, secret = create_client(
        runtime,
        db,
        name="SIMPEG Dinkes",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="scim",
    )
    limited.admin_agency_id = db.scalar(select(Agency.id).where(Agency.code == "DINKES"))
    db.commit()
    local = Scim(scim.http, limited, token_for(scim.http, limited, secret or ""))
    r = local.post("/Users", staff_body("andi", nip=NIPS[2], department="DISKOMINFO"))
    assert r.status_code == 403
    r = local.post("/Users", staff_body("andi", nip=NIPS[0], department="DISKOMINFO"))
    assert r.status_code == 409  # a taken NIP is told before the scope refusal, as before
    db.expire_all()
    assert db.scalars(select(User.username)).all() == ["budi"]
    assert len(db.scalars(select(AuditEvent).where(AuditEvent.event == "user.created")).all()) == 1
    r = local.post("/Users", staff_body("andi", nip=NIPS[2], department="DINKES"))
    assert r.status_code == 201


def test_a_disabled_person_is_still_created_disabled(scim: Scim, db: Session) -> None:
    r = scim.post("/Users", staff_body("budi", nip=NIPS[0], active=False))
    assert r.status_code == 201 and r.json()["active"] is False
    assert _person(db, r.json()["id"]).status == "disabled"


def test_the_outbox_and_the_after_commit_feed_see_the_event(
    scim: Scim, runtime: Runtime, db: Session, receiver: Receiver
) -> None:
    with runtime.sessions() as s:
        subscriptions.create(
            s,
            runtime.settings,
            runtime.encryptor,
            url=receiver.url,
            event_types=["user.*"],
            description="HR",
        )
        s.commit()
    seen: list[tuple[str, dict[str, Any]]] = []

    def note(found: Sequence[tuple[str, dict[str, Any]]]) -> None:
        seen.extend(found)

    audit_feed.subscribe(runtime.engine, note)
    try:
        r = scim.post("/Users", staff_body("budi", nip=NIPS[0]))
        assert r.status_code == 201
        refused = scim.post("/Users", staff_body("budi", nip=NIPS[1]))
        assert refused.status_code == 409
    finally:
        audit_feed.unsubscribe(runtime.engine, note)
    assert seen == [("user.created", {"kind": "staff", "admin": False})]
    db.expire_all()
    (queued,) = db.scalars(select(WebhookEvent).where(WebhookEvent.event == "user.created"))
    assert queued.payload["target_id"] == r.json()["id"]
    assert queued.payload["client_id"] == scim.client.client_id
    assert queued.payload["details"] == {"kind": "staff", "admin": False}
