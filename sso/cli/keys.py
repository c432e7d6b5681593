"""``sso keys``: list, create, rotate and retire the token signing keys.

Every worker and host follows a change within seconds (their key caches revalidate against the
database); nothing needs restarting.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from sso.cli._common import fail, runtime, unit_of_work
from sso.core.clock import now
from sso.db.models.keys import SigningKey
from sso.oidc import key_set
from sso.storage import keys as storage

app = typer.Typer(no_args_is_help=True)


def _alg(value: str | None) -> str | None:
    if value is None:
        return None
    upper = value.strip().upper()
    if upper not in key_set.ALGORITHMS:
        fail(f"--alg must be one of {', '.join(key_set.ALGORITHMS)}, not {value!r}")
    return upper


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _published(key: SigningKey, at: datetime) -> bool:
    if key.state in (storage.NEXT, storage.ACTIVE):
        return True
    return key.unpublish_at is not None and key.unpublish_at > at


@app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every signing key: kid, alg, state, dates, and whether the JWKS publishes it."""
    rt = runtime()
    try:
        with unit_of_work(rt) as session:
            found = storage.list_all(session)
    finally:
        rt.dispose()
    at = now()
    rows: list[dict[str, Any]] = [
        {
            "kid": k.kid,
            "alg": k.alg,
            "state": k.state,
            "published": _published(k, at),
            "created_at": _when(k.created_at),
            "activated_at": _when(k.activated_at),
            "retired_at": _when(k.retired_at),
            "unpublish_at": _when(k.unpublish_at),
        }
        for k in found
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no signing keys (they are created at first start, or by `sso keys ensure`)")
        return
    columns = ["kid", "alg", "state", "published", "created_at", "activated_at", "unpublish_at"]
    table = [columns] + [[str(r[c] if r[c] is not None else "-") for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


@app.command("ensure")
def ensure(
    alg: Annotated[
        str | None, typer.Option("--alg", help="RS256 or ES256 (default: both).")
    ] = None,
) -> None:
    """Create what is missing so each algorithm has one active and one next key."""
    chosen = _alg(alg)
    rt = runtime()
    try:
        with unit_of_work(rt) as session:
            created = key_set.ensure_keys(session, rt.encryptor, rt.settings, chosen)
    finally:
        rt.dispose()
    for key in created:
        typer.echo(f"created {key.alg} {key.state} key {key.kid}")
    if not created:
        typer.echo("nothing to do: every algorithm has an active and a next key")


@app.command("rotate")
def rotate(
    alg: Annotated[
        str | None, typer.Option("--alg", help="RS256 or ES256 (default: both).")
    ] = None,
    if_due: Annotated[
        bool,
        typer.Option("--if-due", help="Only rotate keys older than SSO_SIGNING_KEY_LIFETIME."),
    ] = False,
) -> None:
    """Rotate: the next key starts signing and a new next key is made.

    The old active key is retired but stays in the JWKS until every token it signed has expired.
    """
    chosen = _alg(alg)
    rt = runtime()
    try:
        with unit_of_work(rt) as session:
            done = key_set.rotate(session, rt.encryptor, rt.settings, chosen, if_due=if_due)
    finally:
        rt.dispose()
    for r in done:
        typer.echo(
            f"{r.alg}: {r.activated_kid} now signs; {r.retired_kid} retired, published until "
            f"{_when(r.unpublish_at)}; new next key {r.next_kid}"
        )
    if not done:
        typer.echo("nothing due")


@app.command("retire")
def retire(kid: Annotated[str, typer.Argument(help="kid of a next or retired key.")]) -> None:
    """Unpublish a next or retired key now (e.g. a suspected leak).

    Tokens it signed stop verifying. The active key cannot be retired: rotate first.
    """
    rt = runtime()
    try:
        with unit_of_work(rt) as session:
            key = key_set.retire(session, rt.encryptor, rt.settings, kid)
    finally:
        rt.dispose()
    typer.echo(f"{key.alg} key {key.kid} retired, unpublished at {_when(key.unpublish_at)}")
