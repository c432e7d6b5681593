"""``sso agencies``: the OPD tree."""

from __future__ import annotations

import json
import re

import typer

from sso.cli._common import fail, runtime, unit_of_work
from sso.db.models import Agency
from sso.storage import agencies as repo

app = typer.Typer(no_args_is_help=True)


@app.command()
def create(
    code: str = typer.Option(..., "--code", help="Short unique code, e.g. DISKOMINFO."),
    name: str = typer.Option(..., "--name", help="Full name of the agency."),
    parent: str | None = typer.Option(None, "--parent", help="Code of the parent agency."),
) -> None:
    """Create an agency (OPD)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", code):
        fail(f"invalid agency code {code!r} (letters, digits, _ . -; at most 32)")
    if not name.strip():
        fail("agency name must not be empty")
    rt = runtime()
    with unit_of_work(rt) as session:
        if repo.get_by_code(session, code) is not None:
            fail(f"agency {code!r} already exists")
        parent_id = None
        if parent:
            parent_row = repo.get_by_code(session, parent)
            if parent_row is None:
                fail(f"unknown parent agency {parent!r}")
            parent_id = parent_row.id
        repo.add(session, Agency(code=code, name=name.strip(), parent_id=parent_id))
    typer.echo(f"created agency {code}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """List agencies."""
    rt = runtime()
    with unit_of_work(rt) as session:
        rows = repo.list_all(session)
        by_id = {a.id: a.code for a in rows}
        data = [
            {
                "code": a.code,
                "name": a.name,
                "parent": by_id.get(a.parent_id) if a.parent_id else None,
            }
            for a in rows
        ]
    if as_json:
        typer.echo(json.dumps(data))
        return
    for item in data:
        parent = f" (under {item['parent']})" if item["parent"] else ""
        typer.echo(f"{item['code']}\t{item['name']}{parent}")
