"""``sso upstreams``: the upstream identity providers people may log in through (Google,
INApas, any OpenID provider). The client secret is read from standard input, never from an
argument (argument lists are visible to every user of the machine)."""

from __future__ import annotations

import json
import sys

import typer

from sso.cli._common import fail, runtime, unit_of_work
from sso.federation import registry

app = typer.Typer(no_args_is_help=True)


@app.command()
def create(
    slug: str = typer.Option(..., "--slug", help="In the callback URI: a-z, 0-9 and -."),
    name: str = typer.Option(..., "--name", help='Shown on the login button ("Google").'),
    issuer: str = typer.Option(..., "--issuer", help="The upstream's issuer URL."),
    client_id: str = typer.Option(..., "--client-id"),
    client_secret_stdin: bool = typer.Option(
        False, "--client-secret-stdin", help="Read the client secret from standard input."
    ),
    scope: str | None = typer.Option(
        None, "--scope", help='Default: the preset\'s ("openid email profile"; INApas adds nik).'
    ),
    accounts: str = typer.Option("citizen", "--accounts", help="citizen, staff or all."),
    preset: str = typer.Option("oidc", "--preset", help="oidc, google or inapas."),
    staff_match: str | None = typer.Option(
        None, "--staff-match", help="Match staff by nip or email (needed for staff)."
    ),
    staff_claim: str | None = typer.Option(
        None, "--staff-claim", help="The upstream claim carrying it (default: the same name)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register an upstream; prints its id and the callback URI to give the upstream."""
    if not client_secret_stdin:
        fail("give --client-secret-stdin and the secret on standard input")
    secret = sys.stdin.readline().strip()
    rt = runtime()
    spec = registry.UpstreamSpec(
        slug=slug,
        name=name,
        issuer=issuer,
        client_id=client_id,
        client_secret=secret,
        scope=scope,
        accounts=accounts,
        preset=preset,
        staff_match=staff_match,
        staff_claim=staff_claim,
    )
    with unit_of_work(rt) as session:
        row = registry.create(session, rt.settings, rt.encryptor, spec)
        out = {
            "id": row.id,
            "slug": row.slug,
            "redirect_uri": registry.redirect_uri(rt.settings, row.slug),
        }
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"id: {out['id']}")
    typer.echo(f"slug: {out['slug']}")
    typer.echo(f"redirect_uri: {out['redirect_uri']}  (register this at the upstream)")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """List upstreams (never their secrets)."""
    rt = runtime()
    with unit_of_work(rt) as session:
        data = [
            {
                "id": u.id,
                "slug": u.slug,
                "name": u.name,
                "issuer": u.issuer,
                "client_id": u.client_id,
                "scope": u.scope,
                "accounts": u.accounts,
                "preset": u.preset,
                "identity_assurance": u.identity_assurance,
                "staff_match": u.staff_match,
                "staff_claim": u.staff_claim,
                "enabled": u.enabled,
                "redirect_uri": registry.redirect_uri(rt.settings, u.slug),
            }
            for u in registry.list_upstreams(session)
        ]
    if as_json:
        typer.echo(json.dumps(data))
        return
    for u in data:
        state = "enabled" if u["enabled"] else "disabled"
        typer.echo(f"{u['slug']}\t{u['name']}\t{u['issuer']}\t{u['accounts']}\t{state}")


@app.command()
def disable(slug: str = typer.Argument(...)) -> None:
    """Disable an upstream: its button goes and nobody logs in through it; links stay."""
    rt = runtime()
    with unit_of_work(rt) as session:
        registry.disable(session, slug)
    typer.echo(f"disabled: {slug}")
