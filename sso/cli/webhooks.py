"""``sso webhooks``: subscribe an https URL to audit events (Standard Webhooks), list, pause,
resume, delete, rotate the secret. The same rules as the admin console
(:mod:`sso.webhooks.subscriptions`)."""

from __future__ import annotations

import json
from typing import Any

import typer

from sso.cli._common import fail, runtime, unit_of_work
from sso.storage import webhooks as repo
from sso.webhooks import subscriptions as service

app = typer.Typer(no_args_is_help=True)


def _show_secret(subscription_id: str, secret: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"id": subscription_id, "secret": secret}))
        return
    typer.echo(f"id: {subscription_id}")
    typer.echo(f"secret: {secret}")
    typer.echo("(the secret is shown only now; the receiver verifies signatures with it)")


@app.command()
def create(
    url: str = typer.Option(..., "--url", help="https URL of the receiver."),
    event: list[str] = typer.Option(
        ..., "--event", help="Event type: user.created, client.* or * (repeatable)."
    ),
    description: str = typer.Option("", "--description"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Subscribe URL to events; prints its id and, once, its signing secret."""
    rt = runtime()
    with unit_of_work(rt) as session:
        made = service.create(
            session, rt.settings, rt.encryptor, url=url, event_types=event, description=description
        )
        sub_id = made.subscription.id
    _show_secret(sub_id, made.secret, as_json)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """List subscriptions (never their secrets)."""
    rt = runtime()
    with unit_of_work(rt) as session:
        rows: list[dict[str, Any]] = [
            {
                "id": s.id,
                "url": s.url,
                "events": list(s.event_types),
                "status": s.status,
                "paused_reason": s.paused_reason,
                "description": s.description,
                "created_at": s.created_at.isoformat(),
            }
            for s in repo.all_subscriptions(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        paused = f" ({r['paused_reason']})" if r["paused_reason"] else ""
        typer.echo(f"{r['id']}\t{r['status']}{paused}\t{r['url']}\t{' '.join(r['events'])}")


def _id(value: str) -> str:
    if not value or len(value) > 36:
        fail("unknown webhook subscription")
    return value


@app.command()
def disable(subscription_id: str) -> None:
    """Pause a subscription: events are kept for it and sent when it is enabled again."""
    rt = runtime()
    with unit_of_work(rt) as session:
        service.pause(session, _id(subscription_id))
    typer.echo("paused")


@app.command()
def enable(subscription_id: str) -> None:
    """Resume a paused subscription; what waited is sent at once."""
    rt = runtime()
    with unit_of_work(rt) as session:
        service.resume(session, _id(subscription_id))
    typer.echo("active")


@app.command()
def delete(subscription_id: str) -> None:
    """Delete a subscription with its delivery log; queued events for it are dropped."""
    rt = runtime()
    with unit_of_work(rt) as session:
        service.delete(session, _id(subscription_id))
    typer.echo("deleted")


@app.command("rotate-secret")
def rotate_secret(subscription_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """A new signing secret, shown once; the old one also signs for 24 hours."""
    rt = runtime()
    with unit_of_work(rt) as session:
        made = service.rotate_secret(session, rt.encryptor, _id(subscription_id))
        sub_id = made.subscription.id
    _show_secret(sub_id, made.secret, as_json)
