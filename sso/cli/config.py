"""``sso config``: the provider's configuration as one YAML file (sso.config_code): export it,
and apply a file with a plan first, in one transaction."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from sso.cli._common import fail, runtime
from sso.config_code import engine

app = typer.Typer(no_args_is_help=True)


@app.command()
def export(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Write agencies, roles, role assignments to agencies and clients as YAML (no secrets:
    ${ENV_NAME} references)."""
    rt = runtime()
    with rt.sessions() as session:
        text = engine.export_document(session, rt)
        session.rollback()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"wrote {output}", err=True)


@app.command()
def apply(
    file: Path = typer.Argument(..., help="A YAML file as `sso config export` writes it."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; change nothing."),
    prune: bool = typer.Option(
        False,
        "--prune",
        help="Delete what the file's sections leave out (sections it lacks are left alone).",
    ),
) -> None:
    """Print the plan for FILE and carry it out in one transaction. Every problem is reported
    at once, and then nothing changes."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}")
    rt = runtime()
    with rt.sessions() as session:
        try:
            plan = engine.run(session, rt, text, os.environ, prune=prune)
            if plan.problems or dry_run or not plan.changes:
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise
    typer.echo(plan.render())
    if plan.problems:
        for problem in plan.problems:
            typer.echo(f"error: {problem}", err=True)
        fail(f"{len(plan.problems)} problem(s); nothing was changed", code=1)
    if dry_run and plan.changes:
        typer.echo("Dry run: nothing was changed.")
    elif plan.changes:
        typer.echo("Applied.")
