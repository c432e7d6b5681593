"""``sso db``: apply migrations and show the schema revision."""

from __future__ import annotations

import typer

from sso.cli._common import settings
from sso.db.engine import build_engine
from sso.runtime import current_revision, head_revision, upgrade_database

app = typer.Typer(no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Apply every pending migration."""
    s = settings()
    engine = build_engine(s.database_url)
    try:
        upgrade_database(s.database_url, engine)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@app.command()
def current() -> None:
    """Print the database's revision and whether it is the newest."""
    s = settings()
    engine = build_engine(s.database_url)
    try:
        rev = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    typer.echo(f"{rev or 'empty'} ({'head' if rev == head else f'head is {head}'})")
