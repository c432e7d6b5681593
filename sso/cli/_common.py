"""Helpers shared by the command modules: settings, runtime, one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
import typer
from sqlalchemy.orm import Session

from sso.config import ConfigError, Settings, load_settings
from sso.core.errors import DomainError
from sso.runtime import Runtime, build_runtime


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from exc


def runtime() -> Runtime:
    """The command's runtime (the CLI builds the services a command needs on it, e.g. a
    ``KeyService``); its engine is disposed when the command ends."""
    rt = build_runtime(settings())
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(rt.dispose)
    return rt


@contextmanager
def unit_of_work(rt: Runtime) -> Iterator[Session]:
    """A committed transaction; a DomainError becomes a one-line error and a rollback."""
    session = rt.sessions()
    try:
        yield session
        session.commit()
    except DomainError as exc:
        session.rollback()
        # The operator at the terminal gets the operator's detail (in English).
        fail(exc.detail or exc.message)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def read_password(from_stdin: bool, prompt: bool) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    elif prompt:
        value = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        fail("give --password-stdin or --password-prompt")
    if not value:
        fail("empty password")
    return value
