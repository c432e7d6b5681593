"""Who a validated upstream identity is here (sso.federation.linking.decide and friends), on
real rows: staff only through the claim the admin mapped, never created; an email match
waits for proof; a new citizen's email verified only when the upstream says so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from sso.core.errors import Conflict
from sso.db.models import User
from sso.federation import linking, registry
from sso.federation.flow import Verified
from sso.runtime import Runtime
from tests.factories import create_user

NIP = "198503302010011002"


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Session]:
    """A session as the services get one (transactions and savepoints, not autocommit)."""
    with runtime.sessions() as session:
        yield session


def upstream(runtime: Runtime, db: Session, **spec: Any) -> Any:
    values: dict[str, Any] = {
        "slug": "idp",
        "name": "IdP",
        "issuer": "https://idp.example",
        "client_id": "c",
        "client_secret": "s",
        **spec,
    }
    row = registry.create(db, runtime.settings, runtime.encryptor, registry.UpstreamSpec(**values))
    db.commit()
    return row


def verified(row: Any, sub: str = "u-1", **claims: Any) -> Verified:
    return Verified(row, sub, {"sub": sub, **claims}, "login", None, None)


def user_of(decision: linking.Decision) -> User:
    assert decision.user is not None
    return decision.user


def test_staff_match_only_through_the_mapped_claim(runtime: Runtime, db: Session) -> None:
    budi = create_user(
        runtime, db, username="budi", kind="staff", nip=NIP, email="budi@tangerangselatankota.go.id"
    )
    citizens_only = upstream(runtime, db)
    # The same email, but an upstream for citizens: refused, never a proof page for staff.
    d = linking.decide(db, verified(citizens_only, email=budi.email, email_verified=True))
    assert d.kind == "refused" and d.reason == "upstream.staff_not_here"

    staff_up = upstream(
        runtime,
        db,
        slug="sso-pemprov",
        accounts="staff",
        staff_match="nip",
        staff_claim="employee_nip",
    )
    assert user_of(linking.decide(db, verified(staff_up, employee_nip=NIP))).id == budi.id
    assert linking.decide(db, verified(staff_up, nip=NIP)).kind == "refused"  # unmapped
    nobody = linking.decide(db, verified(staff_up, employee_nip="199001012015011001"))
    assert nobody.kind == "refused" and nobody.reason == "upstream.no_staff_account"

    by_email = upstream(runtime, db, slug="by-email", accounts="all", staff_match="email")
    assert (
        user_of(linking.decide(db, verified(by_email, email=budi.email, email_verified=True))).id
        == budi.id
    )
    # An unverified email proves nothing: it is an email match, which needs proof.
    assert linking.decide(db, verified(by_email, email=budi.email)).kind == "prove"


def test_new_citizen_email_verified_only_when_the_upstream_says_so(
    runtime: Runtime, db: Session
) -> None:
    up = upstream(runtime, db)
    v = verified(up, email="rina@example.id", email_verified=False, name="Rina")
    assert linking.decide(db, v).kind == "login"  # all fields there: created at once
    rina = linking.create_citizen(db, runtime.settings, runtime.encryptor, v)
    assert rina.kind == "citizen" and not rina.email_verified and rina.password is None
    v2 = verified(up, sub="u-2", email="eko@example.id", email_verified="true", name="Eko")
    assert linking.create_citizen(db, runtime.settings, runtime.encryptor, v2).email_verified
    missing = linking.decide(db, verified(up, sub="u-3"))
    assert missing.kind == "complete_profile" and set(missing.missing) == {"name", "email"}
    # The same identity twice: never a second account.
    with pytest.raises(Conflict):
        linking.create_citizen(db, runtime.settings, runtime.encryptor, v)


def test_a_nik_from_a_non_assurance_upstream_is_ignored(runtime: Runtime, db: Session) -> None:
    google = upstream(runtime, db, preset="oidc")
    v = verified(google, email="ani@example.id", name="Ani", nik="3674015505900001")
    ani = linking.create_citizen(db, runtime.settings, runtime.encryptor, v)
    assert ani.nik_encrypted is None and not ani.nik_verified


def test_an_email_match_without_a_password_is_sent_the_other_way(
    runtime: Runtime, db: Session
) -> None:
    inapas = upstream(runtime, db, slug="inapas", preset="inapas")
    google = upstream(runtime, db, slug="google")
    v = verified(inapas, email="sri@example.id", email_verified=True, name="Sri")
    sri = linking.create_citizen(db, runtime.settings, runtime.encryptor, v)
    db.commit()
    d = linking.decide(db, verified(google, sub="g-1", email="sri@example.id", email_verified=True))
    assert d.kind == "refused" and d.reason == "upstream.prove_other_way"
    assert d.user is not None and d.user.id == sri.id
