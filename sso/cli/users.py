"""``sso users``: create, list and disable people."""

from __future__ import annotations

import json

import typer

from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import NewUser, create_user, disable_user
from sso.cli._common import read_password, runtime, unit_of_work
from sso.storage import users as repo

app = typer.Typer(no_args_is_help=True)


@app.command()
def create(
    username: str = typer.Option(..., "--username"),
    email: str = typer.Option(..., "--email"),
    kind: str = typer.Option("citizen", "--kind", help="staff or citizen"),
    name: str = typer.Option("", "--name", help="Display name."),
    nip: str | None = typer.Option(None, "--nip", help="NIP (staff only, 18 digits)."),
    agency: str | None = typer.Option(None, "--agency", help="Agency code (staff)."),
    position: str | None = typer.Option(None, "--position", help="Position (staff)."),
    admin: bool = typer.Option(False, "--admin", help="Grant the global admin role."),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
    password_prompt: bool = typer.Option(False, "--password-prompt"),
) -> None:
    """Create a person. Accounts made by an operator count as email-verified."""
    password = read_password(password_stdin, password_prompt)
    rt = runtime()
    hasher = PasswordHasher(rt.settings)
    with unit_of_work(rt) as session:
        user = create_user(
            session,
            hasher,
            NewUser(
                username=username,
                email=email,
                kind=kind,
                display_name=name,
                nip=nip,
                agency_code=agency,
                position=position,
                email_verified=True,
            ),
            password,
            admin=admin,
        )
        user_id = user.id
    typer.echo(f"created {kind} {username} ({user_id})")


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json"),
    kind: str | None = typer.Option(None, "--kind"),
) -> None:
    """List people (username order)."""
    rt = runtime()
    out: list[dict[str, str | None]] = []
    with unit_of_work(rt) as session:
        after = None
        while True:
            page = repo.list_page(session, after=after, limit=500, kind=kind)
            for u in page:
                out.append(
                    {
                        "id": u.id,
                        "username": u.username,
                        "email": u.email,
                        "kind": u.kind,
                        "name": u.display_name,
                        "status": u.status,
                        "nip": u.nip,
                        "agency": u.agency.code if u.agency else None,
                    }
                )
            if len(page) < 500:
                break
            after = page[-1].username_normalized
    if as_json:
        typer.echo(json.dumps(out))
        return
    for row in out:
        typer.echo(
            f"{row['username']}\t{row['kind']}\t{row['status']}\t{row['email'] or ''}\t{row['name']}"
        )


@app.command()
def disable(identifier: str = typer.Argument(..., help="Username, email or NIP.")) -> None:
    """Disable a person: they can no longer log in; their sessions and tokens end."""
    rt = runtime()
    with unit_of_work(rt) as session:
        user = disable_user(session, identifier)
        from sso.oidc.session_end import end_everything_for_user

        end_everything_for_user(session, user.id, reason="user.disabled")
    typer.echo(f"disabled {identifier}")
