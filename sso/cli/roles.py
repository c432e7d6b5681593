"""``sso roles``: global roles (``admin``…) and app roles of one client (``organizer`` on the
event site), given to people or to every staff member of an agency."""

from __future__ import annotations

import json
import re

import typer
from sqlalchemy.orm import Session

from sso.accounts.identifiers import normalize_login
from sso.cli._common import fail, runtime, unit_of_work
from sso.core.events import Event
from sso.db.models import Role
from sso.storage import agencies as agency_repo
from sso.storage import audit
from sso.storage import clients as client_repo
from sso.storage import roles as repo
from sso.storage import users as user_repo

app = typer.Typer(no_args_is_help=True)
_NAME = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")


def _client_pk(session: Session, client_id: str | None) -> int | None:
    if client_id is None:
        return None
    client = client_repo.get_by_client_id(session, client_id)
    if client is None:
        fail(f"no client {client_id!r}")
    return client.id


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="Role name, e.g. organizer."),
    client: str | None = typer.Option(None, "--client", help="client_id for an app role."),
    description: str = typer.Option("", "--description"),
) -> None:
    """Create a global role, or an app role of one client."""
    if not _NAME.fullmatch(name):
        fail(f"invalid role name {name!r} (lower-case letters, digits, _ . : -)")
    rt = runtime()
    with unit_of_work(rt) as session:
        client_pk = _client_pk(session, client)
        if repo.get(session, name, client_pk) is not None:
            fail(f"role {name!r} already exists")
        repo.add(session, Role(name=name, client_id=client_pk, description=description))
    typer.echo(f"created role {name}" + (f" of client {client}" if client else ""))


@app.command()
def assign(
    role: str = typer.Option(..., "--role"),
    client: str | None = typer.Option(None, "--client", help="client_id of an app role."),
    user: str | None = typer.Option(None, "--user", help="Username, email or NIP."),
    agency: str | None = typer.Option(None, "--agency", help="Agency code: all its staff."),
) -> None:
    """Give a role to one person or to a whole agency."""
    if (user is None) == (agency is None):
        fail("give exactly one of --user or --agency")
    rt = runtime()
    with unit_of_work(rt) as session:
        row = repo.get(session, role, _client_pk(session, client))
        if row is None:
            fail(f"no role {role!r}" + (f" for client {client!r}" if client else ""))
        if user is not None:
            person = user_repo.find_by_login(session, normalize_login(user))
            if person is None:
                fail(f"no user {user!r}")
            repo.assign_to_user(session, row, person.id)
            target_type, target_id = "user", person.id
        else:
            unit = agency_repo.get_by_code(session, agency or "")
            if unit is None:
                fail(f"unknown agency {agency!r}")
            repo.assign_to_agency(session, row, unit.id)
            target_type, target_id = "agency", str(unit.id)
        audit.record(
            session,
            Event.ROLE_GRANTED,
            target_type=target_type,
            target_id=target_id,
            client_id=client,
            role=role,
        )
    typer.echo(f"assigned {role} to {user or agency}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """List roles and how many assignments each has."""
    rt = runtime()
    with unit_of_work(rt) as session:
        clients = {c.id: c.client_id for c in client_repo.list_all(session)}
        data = [
            {
                "name": role.name,
                "client_id": clients.get(role.client_id) if role.client_id else None,
                "description": role.description,
                "assignments": count,
            }
            for role, count in repo.list_all(session)
        ]
    if as_json:
        typer.echo(json.dumps(data))
        return
    for item in data:
        scope = item["client_id"] or "(global)"
        typer.echo(f"{item['name']}\t{scope}\t{item['assignments']}")
