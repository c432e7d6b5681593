"""`sso config export` / `sso config apply`: the round trip, idempotence, dry runs, pruning,
and files that are wrong (every problem reported, nothing written), on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from sso.admin.services import agencies as agency_service
from sso.admin.services import clients as client_service
from sso.admin.services import roles as role_service
from sso.db.models import Agency, Client, Role, RoleAssignment
from sso.oauth.clients import ClientSpec, check_secret
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from sso.web.console import CONSOLE_CLIENT_ID, ensure_console_client
from tests.config.helpers import EVENT_SECRET, PORTAL_SECRET, Run, config_events, export, write
from tests.conftest import _empty_all_tables
from tests.factories import create_user

ADMIN = "test-admin"
JWKS: dict[str, object] = {
    "keys": [
        {
            "kty": "EC",
            "crv": "P-256",
            "kid": "k1",
            "use": "sig",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        }
    ]
}


def seed(runtime: Runtime) -> dict[str, str]:
    """A small city: an agency tree, roles, role assignments, four kinds of clients."""
    settings = runtime.settings
    with runtime.sessions() as s:
        kominfo = agency_service.create(s, "DISKOMINFO", "Dinas Kominfo", None, actor_id=ADMIN)
        agency_service.create(
            s, "BIDANG-TI", "Bidang Teknologi Informasi", kominfo.id, actor_id=ADMIN
        )
        agency_service.create(s, "DINKES", "Dinas Kesehatan", None, actor_id=ADMIN)
        portal = client_service.create(
            s,
            settings,
            ClientSpec(
                name="Portal Satu Data",
                description="Data terbuka kota",
                redirect_uris=["https://data.example.id/callback"],
                post_logout_redirect_uris=["https://data.example.id/"],
                scope="openid profile email opd roles",
                trusted=True,
                backchannel_logout_uri="https://data.example.id/backchannel",
                id_token_signed_response_alg="ES256",
                app_kind="web",
                client_uri="https://data.example.id",
                contacts=["it@example.id"],
                client_id="portal-satu-data",
                client_secret=PORTAL_SECRET,
            ),
            actor_id=ADMIN,
        ).client
        client_service.edit(
            s,
            settings,
            portal,
            client_service.ClientEdit(
                version=portal.version,
                redirect_uris=portal.redirect_uris,
                post_logout_redirect_uris=portal.post_logout_redirect_uris,
                scope=portal.scope,
                grant_types=portal.grant_types,
                access_token_lifetime=300,
                refresh_token_lifetime=86400,
                trusted=True,
                backchannel_logout_uri=portal.backchannel_logout_uri,
            ),
            actor_id=ADMIN,
        )
        app = client_service.create(
            s,
            settings,
            ClientSpec(
                name="Tangsel Mobile",
                public=True,
                app_kind="native",
                redirect_uris=["id.go.tangerangselatankota.mobile:/callback"],
                scope="openid profile offline_access",
            ),
            actor_id=ADMIN,
        ).client
        client_service.create(
            s,
            settings,
            ClientSpec(
                name="SIMPEG sync",
                grant_types=["client_credentials"],
                scope="admin:read",
                token_endpoint_auth_method="private_key_jwt",
                jwks=JWKS,
                app_kind="m2m",
            ),
            actor_id=ADMIN,
        )
        event = client_service.create(
            s,
            settings,
            ClientSpec(
                name="Event",
                redirect_uris=["https://event.example.id/cb"],
                client_secret=EVENT_SECRET,
            ),
            actor_id=ADMIN,
        ).client
        client_service.set_disabled(s, event, True, actor_id=ADMIN)
        role_repo.get_or_create_global(s, "admin")
        opd = role_service.create(s, "opd-admin", None, "Admin OPD", actor_id=ADMIN)
        organizer = role_service.create(
            s, "organizer", "portal-satu-data", "Penyelenggara", actor_id=ADMIN
        )
        role_service.grant(s, opd, "agency:BIDANG-TI", actor_id=ADMIN)
        role_service.grant(s, organizer, "agency:DINKES", actor_id=ADMIN)
        ids = {"app": app.client_id, "event": event.client_id}
        s.commit()
    return ids


def test_export_apply_on_an_empty_database_export_again_is_the_same_file(
    runtime: Runtime, sso: Run, db: Any, tmp_path: Path
) -> None:
    ids = seed(runtime)
    with runtime.sessions() as s:  # the provider's own console client is not configuration
        ensure_console_client(s, runtime.settings)
        s.commit()
    path, first = export(sso, tmp_path)
    assert sso("config", "export").stdout == first
    doc = yaml.safe_load(first)
    assert [a["code"] for a in doc["agencies"]] == ["DINKES", "DISKOMINFO"]
    assert doc["agencies"][1]["children"][0]["code"] == "BIDANG-TI"
    portal = next(c for c in doc["clients"] if c["client_id"] == "portal-satu-data")
    assert portal["secret"] == "${CLIENT_SECRET_PORTAL_SATU_DATA}"
    assert portal["access_token_lifetime"] == 300 and portal["in_development"] is False
    assert portal["id_token_signed_response_alg"] == "ES256"
    assert PORTAL_SECRET not in first and EVENT_SECRET not in first
    assert CONSOLE_CLIENT_ID not in first
    assert {"role": "organizer", "client": "portal-satu-data", "agency": "DINKES"} in doc[
        "role_assignments"
    ]

    _empty_all_tables(runtime)
    result = sso("config", "apply", str(path))
    assert result.exit_code == 0, result.output
    assert "+ agency BIDANG-TI" in result.stdout and "Applied." in result.stdout
    assert "Plan: 12 to create, 0 to change, 0 to delete." in result.stdout
    assert PORTAL_SECRET not in result.stdout

    _second, again = export(sso, tmp_path, "again.yaml")
    assert again == first
    db.expire_all()
    portal_row = db.scalar(select(Client).where(Client.client_id == "portal-satu-data"))
    assert check_secret(runtime.secret_key, portal_row, PORTAL_SECRET)
    event_row = db.scalar(select(Client).where(Client.client_id == ids["event"]))
    assert event_row.status == "disabled" and check_secret(
        runtime.secret_key, event_row, EVENT_SECRET
    )
    made = {e.event for e in config_events(db)}
    assert {
        "agency.created",
        "client.created",
        "role.created",
        "role.granted",
        "config.applied",
    } <= made

    result = sso("config", "apply", str(path))
    assert result.exit_code == 0 and result.stdout.strip() == "No changes."


def test_apply_twice_changes_nothing_and_changes_show_their_fields(
    runtime: Runtime, sso: Run, db: Any, tmp_path: Path
) -> None:
    seed(runtime)
    path, _text = export(sso, tmp_path)
    assert sso("config", "apply", str(path)).stdout.strip() == "No changes."
    assert config_events(db) == []

    doc = yaml.safe_load(path.read_text())
    doc["agencies"][0]["name"] = "Dinas Kesehatan Kota"
    kominfo = doc["agencies"][1]
    doc["agencies"].append(kominfo.pop("children")[0])  # BIDANG-TI to the top
    portal = next(c for c in doc["clients"] if c["client_id"] == "portal-satu-data")
    portal["scope"] = "openid profile"
    portal["name"] = "Portal Data"
    portal["redirect_uris"].append("https://data.example.id/callback2")
    portal["secret"] = "${NEW_PORTAL_SECRET}"
    event = next(c for c in doc["clients"] if c["name"] == "Event")
    event["status"] = "active"
    next(r for r in doc["roles"] if r["name"] == "organizer")["description"] = "EO"
    write(path, doc)
    new_secret = "new-portal-secret-0123456789-abcdefghij"
    result = sso("config", "apply", str(path), extra_env={"NEW_PORTAL_SECRET": new_secret})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "~ agency DINKES" in out and '"Dinas Kesehatan" -> "Dinas Kesehatan Kota"' in out
    assert "~ agency BIDANG-TI" in out and '"DISKOMINFO" -> null' in out
    assert "~ client portal-satu-data (Portal Data)" in out
    assert "(stored secret) -> ${NEW_PORTAL_SECRET}" in out and new_secret not in out
    assert '"active"' in out and "Plan: 0 to create, 5 to change, 0 to delete." in out

    db.expire_all()
    row = db.scalar(select(Client).where(Client.client_id == "portal-satu-data"))
    assert (row.name, row.scope, len(row.redirect_uris)) == ("Portal Data", "openid profile", 2)
    assert check_secret(runtime.secret_key, row, new_secret)
    assert not check_secret(runtime.secret_key, row, PORTAL_SECRET)
    assert db.scalar(select(Agency).where(Agency.code == "BIDANG-TI")).parent_id is None
    made = [e.event for e in config_events(db)]
    assert {
        "agency.renamed",
        "agency.moved",
        "client.updated",
        "client.secret_rotated",
        "client.enabled",
        "role.updated",
        "config.applied",
    } <= set(made)
    again = sso("config", "apply", str(path), extra_env={"NEW_PORTAL_SECRET": new_secret})
    assert again.stdout.strip() == "No changes."


def test_dry_run_changes_nothing(runtime: Runtime, sso: Run, db: Any, tmp_path: Path) -> None:
    seed(runtime)
    path, before = export(sso, tmp_path)
    doc = yaml.safe_load(before)
    doc["agencies"].append({"code": "BAPPEDA", "name": "Bappeda"})
    doc["clients"][0]["trusted"] = not doc["clients"][0]["trusted"]
    doc["role_assignments"].append({"role": "opd-admin", "agency": "BAPPEDA"})
    write(path, doc)
    result = sso("config", "apply", str(path), "--dry-run", "--prune")
    assert result.exit_code == 0, result.output
    assert "+ agency BAPPEDA" in result.stdout and "Dry run: nothing was changed." in result.stdout
    assert "Plan: 2 to create, 1 to change, 0 to delete." in result.stdout
    assert export(sso, tmp_path, "after.yaml")[1] == before
    assert config_events(db) == []


def test_without_prune_nothing_is_deleted_with_prune_it_is(
    runtime: Runtime, sso: Run, db: Any, tmp_path: Path
) -> None:
    ids = seed(runtime)
    path, text = export(sso, tmp_path)
    doc = yaml.safe_load(text)
    doc["agencies"] = [a for a in doc["agencies"] if a["code"] != "DINKES"]
    doc["clients"] = [c for c in doc["clients"] if c["client_id"] != ids["app"]]
    doc["roles"] = [r for r in doc["roles"] if r["name"] not in ("organizer", "admin")]
    doc["role_assignments"] = []
    write(path, doc)

    kept = sso("config", "apply", str(path))
    assert kept.exit_code == 0 and kept.stdout.strip() == "No changes."
    pruned = sso("config", "apply", str(path), "--prune")
    assert pruned.exit_code == 0, pruned.output
    out = pruned.stdout
    assert "- agency DINKES" in out and f"- client {ids['app']}" in out
    assert "- role organizer" in out and "- role_assignment opd-admin -> BIDANG-TI" in out
    assert "- role admin" not in out  # the console's own roles are never pruned
    assert "Plan: 0 to create, 0 to change, 5 to delete." in out
    db.expire_all()
    assert db.scalar(select(Agency).where(Agency.code == "DINKES")) is None
    assert db.scalar(select(Client).where(Client.client_id == ids["app"])) is None
    assert db.scalar(select(Role).where(Role.name == "admin")) is not None
    assert db.scalars(select(RoleAssignment)).all() == []
    assert {"agency.deleted", "client.deleted", "role.deleted", "role.revoked"} <= {
        e.event for e in config_events(db)
    }
    assert sso("config", "apply", str(path), "--prune").stdout.strip() == "No changes."


def test_a_bad_file_reports_every_problem_and_writes_nothing(
    runtime: Runtime, sso: Run, db: Any, tmp_path: Path
) -> None:
    seed(runtime)
    path, before = export(sso, tmp_path)
    doc = yaml.safe_load(before)
    doc["agencies"].append({"code": "BAPPEDA", "name": "Bappeda", "head": "Budi"})
    doc["agencies"].append({"code": "bad code!", "name": "Salah"})
    doc["clients"][0]["trusted"] = "yes"
    doc["clients"].append({"client_id": "new-app", "name": "New", "grant_types": ["implicit"]})
    doc["clients"].append(
        {
            "client_id": "web-app",
            "name": "Web",
            "secret": "${WEB_SECRET}",
            "redirect_uris": ["http://web.example.id/cb"],
        }
    )
    doc["clients"].append({"client_id": "plain", "name": "Plain", "secret": "hunter2"})
    doc["clients"].append({"client_id": "tangselconsole", "name": "Mine now"})
    doc["roles"].append({"name": "viewer", "client": "no-such-client"})
    doc["role_assignments"].append({"role": "opd-admin", "agency": "NOWHERE"})
    doc["extra"] = 1
    write(path, doc)

    result = sso("config", "apply", str(path), "--prune")
    assert result.exit_code == 1
    err = result.stderr
    for expected in (
        "agencies[2].head: unknown field",
        "clients[0].trusted: must be true or false",
        "grant_types: unknown value(s) ['implicit']",
        "environment variable WEB_SECRET is not set",
        "clients[6].secret: must be a ${ENV_NAME} reference",
        "role viewer (app role of client no-such-client): client: there is no client no-such-client",
        "agency: there is no agency NOWHERE",
        "extra: unknown section",
        "clients[7].client_id: tangselconsole is the provider's own console client",
        "agency BAD CODE!: Code: 2–32 capital letters",  # refused by the admin service
    ):
        assert expected in err, (expected, err)
    assert err.strip().endswith("problem(s); nothing was changed")
    assert "hunter2" not in result.output
    assert export(sso, tmp_path, "after.yaml")[1] == before
    assert config_events(db) == []


def test_a_missing_environment_variable_fails_cleanly(
    runtime: Runtime, sso: Run, db: Any, tmp_path: Path
) -> None:
    path, _ = export(sso, tmp_path)  # an empty city
    doc = yaml.safe_load(path.read_text())
    doc["clients"] = [
        {
            "client_id": "portal-satu-data",
            "name": "Portal",
            "redirect_uris": ["https://data.example.id/cb"],
            "secret": "${PORTAL_SECRET_FROM_VAULT}",
        }
    ]
    write(path, doc)
    result = sso("config", "apply", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "error: clients[0].secret: environment variable PORTAL_SECRET_FROM_VAULT is not set"
    )
    db.expire_all()
    assert db.scalars(select(Client)).all() == []

    ok = sso("config", "apply", str(path), extra_env={"PORTAL_SECRET_FROM_VAULT": PORTAL_SECRET})
    assert ok.exit_code == 0, ok.output
    row = db.scalar(select(Client).where(Client.client_id == "portal-satu-data"))
    assert check_secret(runtime.secret_key, row, PORTAL_SECRET)
    # A hand-written entry takes the defaults of `sso clients create`; applying it again, or
    # pruning with a file that has no clients section, changes nothing.
    again = sso("config", "apply", str(path), extra_env={"PORTAL_SECRET_FROM_VAULT": PORTAL_SECRET})
    assert again.stdout.strip() == "No changes."
    only_agencies = write(
        tmp_path / "agencies.yaml",
        {"version": 1, "agencies": [{"code": "DINKES", "name": "Dinas Kesehatan"}]},
    )
    result = sso("config", "apply", str(only_agencies), "--prune")
    assert result.exit_code == 0 and "Plan: 1 to create, 0 to change, 0 to delete." in result.stdout
    db.expire_all()
    assert [c.client_id for c in db.scalars(select(Client))] == ["portal-satu-data"]


def test_a_new_confidential_client_needs_a_secret_reference(
    runtime: Runtime, sso: Run, db: Any, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "c.yaml",
        {
            "version": 1,
            "clients": [
                {
                    "client_id": "portal",
                    "name": "Portal",
                    "redirect_uris": ["https://p.example.id/cb"],
                }
            ],
        },
    )
    result = sso("config", "apply", str(path))
    assert result.exit_code == 1
    assert "client portal (Portal): a new confidential client needs secret" in result.stderr


def test_the_console_rules_hold(runtime: Runtime, sso: Run, db: Any, tmp_path: Path) -> None:
    """An agency with staff cannot be pruned, as in the console; the whole apply is refused."""
    seed(runtime)
    with runtime.sessions() as s:
        create_user(runtime, s, username="budi", kind="staff", agency_code="DINKES")
    path, text = export(sso, tmp_path)
    doc = yaml.safe_load(text)
    doc["agencies"] = [a for a in doc["agencies"] if a["code"] != "DINKES"]
    doc["agencies"].append({"code": "BAPPEDA", "name": "Bappeda"})
    write(path, doc)
    result = sso("config", "apply", str(path), "--prune")
    assert result.exit_code == 1
    assert "error: agency DINKES:" in result.stderr
    db.expire_all()
    assert db.scalar(select(Agency).where(Agency.code == "BAPPEDA")) is None
    assert db.scalar(select(Agency).where(Agency.code == "DINKES")) is not None


def test_yaml_that_does_not_parse(sso: Run, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nagencies: [\n", encoding="utf-8")
    result = sso("config", "apply", str(path))
    assert result.exit_code == 1 and "not valid YAML" in result.stderr


def test_registration_fields_development_mark_and_fixed_fields(
    runtime: Runtime, sso: Run, db: Any, tmp_path: Path
) -> None:
    seed(runtime)
    path, text = export(sso, tmp_path)
    doc = yaml.safe_load(text)
    portal = next(c for c in doc["clients"] if c["client_id"] == "portal-satu-data")
    # Marked in development and given a loopback URI in one file: the mark comes first.
    portal["in_development"] = True
    portal["redirect_uris"].append("http://127.0.0.1:8080/callback")
    portal["id_token_signed_response_alg"] = "RS256"
    portal["description"] = "Portal data kota"
    portal["contacts"] = ["data@example.id"]
    write(path, doc)
    result = sso("config", "apply", str(path))
    assert result.exit_code == 0, result.output
    assert "client.development_changed" in {e.event for e in config_events(db)}

    # Unmarked and the loopback URI removed in one file: the URI goes first.
    portal["in_development"] = False
    portal["redirect_uris"].pop()
    portal["token_endpoint_auth_method"] = "private_key_jwt"
    portal["jwks"] = JWKS
    del portal["secret"]
    write(path, doc)
    result = sso("config", "apply", str(path))
    assert result.exit_code == 0, result.output
    db.expire_all()
    row = db.scalar(select(Client).where(Client.client_id == "portal-satu-data"))
    assert (row.in_development, row.token_endpoint_auth_method, row.client_secret_hash) == (
        False,
        "private_key_jwt",
        None,
    )
    assert (row.description, row.contacts, row.id_token_signed_response_alg) == (
        "Portal data kota",
        ["data@example.id"],
        "RS256",
    )
    assert sso("config", "apply", str(path)).stdout.strip() == "No changes."

    # A loopback URI without the mark is refused by the console's rule; so are a change of
    # client_type, a review decision, a malformed client_id and a short chosen secret.
    portal["redirect_uris"].append("http://127.0.0.1:9000/cb")
    mobile = next(c for c in doc["clients"] if c["name"] == "Tangsel Mobile")
    mobile["client_type"] = "confidential"
    event = next(c for c in doc["clients"] if c["name"] == "Event")
    event["status"] = "pending"
    doc["clients"].append(
        {
            "client_id": "-x",
            "name": "Bad",
            "client_type": "public",
            "app_kind": "native",
            "redirect_uris": ["com.example:/cb"],
        }
    )
    doc["clients"].append(
        {
            "client_id": "short",
            "name": "Short",
            "secret": "${SHORT}",
            "redirect_uris": ["https://s.example.id/cb"],
        }
    )
    write(path, doc)
    result = sso("config", "apply", str(path), extra_env={"SHORT": "abc"})
    assert result.exit_code == 1
    err = result.stderr
    assert "client portal-satu-data (Portal Data)" not in err  # (name unchanged here)
    for expected in (
        "client portal-satu-data (Portal Satu Data): ",
        "client_type cannot change",
        "apply only enables and disables",
        "client -x (Bad): client_id: 3-64",
        "client short (Short): a given client secret needs 32+",
    ):
        assert expected in err, (expected, err)
    assert len(err.strip().splitlines()) == 6  # five problems and the summary
    db.expire_all()
    assert db.scalar(select(Client).where(Client.client_id == "short")) is None


def test_an_agency_limited_machine_client_round_trips_with_its_limit(
    runtime: Runtime, sso: Run, db: Any, tmp_path: Path
) -> None:
    seed(runtime)
    with runtime.sessions() as s:
        simpeg = s.scalar(select(Client).where(Client.name == "SIMPEG sync"))
        dinkes = s.scalar(select(Agency).where(Agency.code == "DINKES"))
        assert simpeg is not None and dinkes is not None
        simpeg.admin_agency_id = dinkes.id
        s.commit()
    path, text = export(sso, tmp_path)
    simpeg_entry = next(c for c in yaml.safe_load(text)["clients"] if c["name"] == "SIMPEG sync")
    assert simpeg_entry["admin_agency"] == "DINKES"
    assert sso("config", "apply", str(path)).stdout.strip() == "No changes."
    _empty_all_tables(runtime)
    result = sso("config", "apply", str(path))
    assert result.exit_code == 0, result.stderr
    db.expire_all()
    again = db.scalar(select(Client).where(Client.name == "SIMPEG sync"))
    dinkes = db.scalar(select(Agency).where(Agency.code == "DINKES"))
    assert again is not None and dinkes is not None and again.admin_agency_id == dinkes.id
    assert export(sso, tmp_path)[1] == text  # the limit survives the round trip
    # Lifting the limit in the file lifts it in the database.
    doc = yaml.safe_load(text)
    next(c for c in doc["clients"] if c["name"] == "SIMPEG sync")["admin_agency"] = None
    write(path, doc)
    assert sso("config", "apply", str(path)).exit_code == 0
    db.expire_all()
    again = db.scalar(select(Client).where(Client.name == "SIMPEG sync"))
    assert again is not None and again.admin_agency_id is None
