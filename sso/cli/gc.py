"""``sso gc``: delete expired codes, sessions and tokens."""

from __future__ import annotations

import typer

from sso.cli._common import runtime, unit_of_work
from sso.storage.gc import collect


def register(app: typer.Typer) -> None:
    @app.command("gc")
    def gc() -> None:
        """Delete expired protocol state; prints how many rows of each kind went."""
        rt = runtime()
        with unit_of_work(rt) as session:
            counts = collect(session)
        for name, count in counts.items():
            typer.echo(f"{name}\t{count}")
