"""The review of developer registrations (the service the admin console calls) and the
initial access tokens an admin issues for Dynamic Client Registration (service and CLI)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from sso.cli import app as cli
from sso.core.errors import Conflict
from sso.db.models import InitialAccessToken, User
from sso.oauth import app_review, developer_apps, initial_access
from sso.runtime import Runtime
from tests.developers.helpers import events


def pending_app(runtime: Runtime, db: Session, owner: User, name: str = "Ojek Kota"):
    created = developer_apps.create_app(
        db,
        runtime.settings,
        owner,
        developer_apps.AppDetails(name=name, redirect_uris=["https://ojek.example.id/cb"]),
    )
    db.commit()
    return created.client


def test_approve_and_reject_move_the_status_with_audit(
    runtime: Runtime, db: Session, dewi: User, siti: User
) -> None:
    first, second = pending_app(runtime, db, dewi), pending_app(runtime, db, dewi, "Parkir")
    assert [c.client_id for c in app_review.pending(db)] == [first.client_id, second.client_id]
    app_review.approve(db, first, siti.id, "  OK  ")
    app_review.reject(db, second, siti.id, "")
    db.commit()
    assert (first.status, first.review_note, first.reviewed_by_id) == ("active", "OK", siti.id)
    assert (second.status, second.review_note) == ("rejected", None)
    assert app_review.pending(db) == []
    [approved], [rejected] = events(db, "client.approved"), events(db, "client.rejected")
    assert (approved.actor_id, approved.target_id) == (siti.id, first.client_id)
    assert (rejected.actor_id, rejected.target_id) == (siti.id, second.client_id)


def test_review_refuses_moves_that_make_no_sense(
    runtime: Runtime, db: Session, dewi: User, siti: User
) -> None:
    client = pending_app(runtime, db, dewi)
    app_review.approve(db, client, siti.id)
    db.commit()
    with pytest.raises(Conflict):
        app_review.approve(db, client, siti.id)
    with pytest.raises(Conflict):
        app_review.reject(db, client, siti.id)  # an active app is disabled, not rejected
    db.rollback()
    assert len(events(db, "client.approved")) == 1


def test_unverified_people_cannot_create_apps_through_the_service(
    runtime: Runtime, db: Session, dewi: User
) -> None:
    dewi.email_verified = False
    with pytest.raises(developer_apps.NotVerified):
        pending_app(runtime, db, dewi)


def test_initial_access_tokens_are_stored_hashed_limited_and_revocable(
    runtime: Runtime, db: Session, siti: User
) -> None:
    issued = initial_access.issue(
        db,
        runtime.secret_key,
        actor_id=siti.id,
        max_uses=2,
        expires_in=3600,
        description="Dinas Perhubungan CI",
    )
    db.commit()
    assert issued.token.startswith("tsso_it_")
    row = db.get(InitialAccessToken, issued.row.id)
    assert row is not None and issued.token not in row.token_hash and row.uses == 0
    assert initial_access.find(db, runtime.secret_key, issued.token) is not None
    assert initial_access.use(db, runtime.secret_key, issued.token) is not None
    assert initial_access.use(db, runtime.secret_key, issued.token) is not None
    assert initial_access.use(db, runtime.secret_key, issued.token) is None  # used up
    db.commit()
    other = initial_access.issue(db, runtime.secret_key, max_uses=None, expires_in=None)
    initial_access.revoke(db, other.row.id, actor_id=siti.id)
    db.commit()
    assert initial_access.find(db, runtime.secret_key, other.token) is None
    assert initial_access.use(db, runtime.secret_key, other.token) is None
    [issued_event, _] = events(db, "initial_access_token.issued")
    assert issued_event.actor_id == siti.id and issued.token not in json.dumps(issued_event.details)
    assert events(db, "initial_access_token.revoked")[0].target_id == str(other.row.id)
    with pytest.raises(initial_access.InvalidInput):
        initial_access.issue(db, runtime.secret_key, max_uses=0)


@pytest.fixture
def sso(runtime: Runtime):
    s = runtime.settings
    env = {
        "SSO_ENV": "test",
        "SSO_DATABASE_URL": s.database_url,
        "SSO_SECRET_KEY": s.secret_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_KEY_ENCRYPTION_KEY": s.key_encryption_key.get_secret_value(),  # type: ignore[union-attr]
        "SSO_ISSUER": s.issuer,
        "SSO_VAR_DIR": str(s.var_dir),
    }

    def run(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return run


def test_cli_issues_and_revokes_registration_tokens(sso, http, db: Session) -> None:
    r = sso(
        "clients",
        "issue-registration-token",
        "--description",
        "Dishub",
        "--max-uses",
        "1",
        "--expires-in",
        "600",
        "--approve",
        "--json",
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["initial_access_token"].startswith("tsso_it_") and data["approve_clients"] is True
    body = {"client_name": "Dishub", "grant_types": ["client_credentials"]}
    headers = {"Authorization": f"Bearer {data['initial_access_token']}"}
    reg = http.post("/oauth2/register", json=body, headers=headers)
    assert reg.status_code == 201 and reg.json()["status"] == "active"

    r = sso("clients", "issue-registration-token")
    assert r.exit_code == 0 and "initial_access_token: tsso_it_" in r.stdout
    token = r.stdout.split("initial_access_token: ")[1].split()[0]
    token_id = r.stdout.split("id: ")[1].split()[0]
    assert sso("clients", "revoke-registration-token", token_id).exit_code == 0
    refused = http.post("/oauth2/register", json=body, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    r = sso("clients", "revoke-registration-token", "999999")
    assert r.exit_code == 1 and "no initial access token" in r.output
    r = sso("clients", "issue-registration-token", "--expires-in", "0")
    assert r.exit_code == 1
