"""``sso clients``: register relying parties, rotate their secrets, and issue or revoke the
initial access tokens of Dynamic Client Registration (RFC 7591)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sso.cli._common import fail, runtime, unit_of_work
from sso.oauth import initial_access
from sso.oauth.clients import ClientSpec, register, rotate_secret
from sso.storage import agencies as agency_repo
from sso.storage import clients as repo

app = typer.Typer(no_args_is_help=True)


@app.command()
def create(
    name: str = typer.Option(..., "--name"),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri"),
    post_logout_redirect_uri: list[str] = typer.Option([], "--post-logout-redirect-uri"),
    grant_type: list[str] = typer.Option([], "--grant-type"),
    scope: str = typer.Option("openid profile email", "--scope"),
    auth_method: str | None = typer.Option(None, "--auth-method"),
    public: bool = typer.Option(False, "--public"),
    trusted: bool = typer.Option(False, "--trusted", help="First-party: skip consent."),
    backchannel_logout_uri: str | None = typer.Option(None, "--backchannel-logout-uri"),
    id_token_alg: str | None = typer.Option(
        None, "--id-token-alg", help="RS256 or ES256 (default: SSO_DEFAULT_SIGNING_ALG)."
    ),
    jwks_file: Path | None = typer.Option(
        None, "--jwks-file", help="Client JWKS (private_key_jwt)."
    ),
    agency: str | None = typer.Option(
        None,
        "--agency",
        help="Admin API client (client_credentials, scopes admin:read/admin:write) limited to "
        "this agency and the ones below it, as an opd-admin of it.",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register a client; prints its client_id and, once, its secret."""
    jwks = None
    if jwks_file is not None:
        try:
            jwks = json.loads(jwks_file.read_text())
        except (OSError, ValueError) as exc:
            fail(f"cannot read JWKS file: {exc}")
    grants = grant_type or (
        ["authorization_code", "refresh_token"] if redirect_uri else ["client_credentials"]
    )
    spec = ClientSpec(
        name=name,
        redirect_uris=redirect_uri,
        post_logout_redirect_uris=post_logout_redirect_uri,
        grant_types=grants,
        scope=scope,
        token_endpoint_auth_method=auth_method,
        public=public,
        trusted=trusted,
        backchannel_logout_uri=backchannel_logout_uri,
        id_token_signed_response_alg=id_token_alg,
        jwks=jwks,
    )
    rt = runtime()
    with unit_of_work(rt) as session:
        if agency is not None:
            found = agency_repo.get_by_code(session, agency.strip().upper())
            if found is None:
                fail(f"unknown agency {agency!r}")
            spec.admin_agency_id = found.id
        # Redirect URIs: the rules of every path (sso.oauth.redirect_uris); a --public client
        # is a native app, and web apps may use loopback URIs only when SSO_ENV=dev.
        result = register(session, rt.secret_key, spec, env=rt.settings.env)
        client_id = result.client.client_id
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, "client_secret": result.client_secret}))
        return
    typer.echo(f"client_id: {client_id}")
    if result.client_secret:
        typer.echo(f"client_secret: {result.client_secret}")
        typer.echo("(the secret is shown only now; store it safely)")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """List clients (never their secrets)."""
    rt = runtime()
    with unit_of_work(rt) as session:
        data = [
            {
                "client_id": c.client_id,
                "name": c.name,
                "type": c.client_type,
                "status": c.status,
                "trusted": c.trusted,
                "redirect_uris": c.redirect_uris,
                "grant_types": c.grant_types,
                "scope": c.scope,
                "token_endpoint_auth_method": c.token_endpoint_auth_method,
            }
            for c in repo.list_all(session)
        ]
    if as_json:
        typer.echo(json.dumps(data))
        return
    for c in data:
        typer.echo(f"{c['client_id']}\t{c['name']}\t{c['type']}\t{c['status']}")


@app.command("rotate-secret")
def rotate(
    client_id: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Replace a client's secret; the old one stops working at once."""
    rt = runtime()
    with unit_of_work(rt) as session:
        secret = rotate_secret(session, rt.secret_key, client_id)
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
    else:
        typer.echo(f"client_secret: {secret}")


@app.command("issue-registration-token")
def issue_registration_token(
    description: str = typer.Option("", "--description", help="Who it is for, and why."),
    expires_in: int = typer.Option(7 * 24 * 3600, "--expires-in", help="Lifetime in seconds."),
    max_uses: int = typer.Option(1, "--max-uses", help="Registrations allowed; 0 = no limit."),
    approve: bool = typer.Option(
        False, "--approve", help="Clients registered with it are active at once (no review)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Issue an initial access token for POST /oauth2/register; prints it once."""
    rt = runtime()
    with unit_of_work(rt) as session:
        issued = initial_access.issue(
            session,
            rt.secret_key,
            description=description,
            expires_in=expires_in,
            max_uses=max_uses or None,
            approve_clients=approve,
        )
        token_id, expires_at = issued.row.id, issued.row.expires_at
    data = {
        "id": token_id,
        "initial_access_token": issued.token,
        "expires_at": expires_at.isoformat() if expires_at else None,
        "max_uses": max_uses or None,
        "approve_clients": approve,
    }
    if as_json:
        typer.echo(json.dumps(data))
        return
    typer.echo(f"initial_access_token: {issued.token}")
    typer.echo(f"id: {token_id}  expires: {data['expires_at']}  max uses: {data['max_uses']}")
    typer.echo("(shown only now; send it as 'Authorization: Bearer …' to POST /oauth2/register)")


@app.command("revoke-registration-token")
def revoke_registration_token(token_id: int = typer.Argument(...)) -> None:
    """Revoke an initial access token by its id; it registers nothing more."""
    rt = runtime()
    with unit_of_work(rt) as session:
        initial_access.revoke(session, token_id)
    typer.echo(f"revoked initial access token {token_id}")
