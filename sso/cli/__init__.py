"""The ``sso`` command line (Typer). Each command group lives in its own module; this module
only assembles them. Every command exits non-zero with a one-line error on bad input and then
has changed nothing."""

from __future__ import annotations

import typer

from sso.cli import (
    agencies,
    clients,
    config,
    db,
    gc,
    keys,
    roles,
    serve,
    upstreams,
    users,
    webhooks,
)

app = typer.Typer(
    name="sso",
    help="Tangsel SSO: the OpenID Connect provider of Tangerang Selatan.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db", help="Database schema (Alembic migrations).")
app.add_typer(users.app, name="users", help="People: staff and citizens.")
app.add_typer(agencies.app, name="agencies", help="Agencies (OPD).")
app.add_typer(clients.app, name="clients", help="OAuth clients (relying parties).")
app.add_typer(keys.app, name="keys", help="Token signing keys.")
app.add_typer(roles.app, name="roles", help="Global and per-client app roles.")
app.add_typer(upstreams.app, name="upstreams", help="Upstream identity providers (Google, INApas).")
app.add_typer(webhooks.app, name="webhooks", help="Webhooks: audit events sent to other systems.")
app.add_typer(config.app, name="config", help="Configuration as code: export and apply YAML.")
serve.register(app)
gc.register(app)


def main() -> None:
    app()
