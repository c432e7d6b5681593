"""Webhook subscriptions, keyed by their ``id`` (kept, like a client's ``client_id``). The
signing secret is ``secret: ${ENV_NAME}``: stored encrypted, compared with the variable's value
and replaced when they differ (the old one still signs for a day, as after any rotation).
Applied through :mod:`sso.webhooks.subscriptions`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from sso.config_code.model import ApplyContext, Change, Field, Handler, ReadContext, Secret
from sso.core.crypto import keyed_hash
from sso.core.errors import InvalidInput
from sso.runtime import Runtime
from sso.storage import webhooks as repo
from sso.webhooks import subscriptions as service

FIELDS = (
    Field("id", "str", required=True, nullable=False),
    Field("url", "str", required=True, nullable=False),
    Field("description", "text", default="", nullable=False),
    Field("event_types", "list", required=True, nullable=False),
    Field("status", "str", default="active", choices=("active", "paused"), nullable=False),
    Field("secret", "secret"),
)


def _digest(rt: Runtime, value: str) -> str:
    return keyed_hash(rt.secret_key, value.strip(), "config-webhook-secret")


def variable(subscription_id: str) -> str:
    return "WEBHOOK_SECRET_" + "".join(c for c in subscription_id.upper() if c.isalnum())


class Webhooks(Handler):
    kind = "webhook"
    section = "webhooks"
    keep_when_absent = frozenset({"secret"})

    def current(self, session: Session, rt: Runtime) -> dict[str, dict[str, Any]]:
        found = {}
        for sub in repo.all_subscriptions(session):
            found[sub.id] = {
                "id": sub.id,
                "url": sub.url,
                "description": sub.description or "",
                "event_types": list(sub.event_types),
                "status": sub.status,
                "secret": Secret(None, _digest(rt, rt.encryptor.decrypt(sub.secret_encrypted))),
            }
        return found

    def export(self, session: Session, rt: Runtime) -> list[dict[str, Any]]:
        return [
            {**values, "secret": "${" + variable(key) + "}"}
            for key, values in sorted(self.current(session, rt).items())
        ]

    def read(self, items: list[Any], ctx: ReadContext) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items):
            at = f"{self.section}[{index}]"
            values = ctx.fields(item, FIELDS, at, digest=lambda v: _digest(ctx.runtime, v))
            if values is None:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    ctx.failed.add((self.kind, item["id"].strip()))
                continue
            if values["id"] in found:
                ctx.problem(f"{at}.id", f"webhook {values['id']} appears twice")
                continue
            found[values["id"]] = values
        return found

    def label(self, key: str, values: Mapping[str, Any]) -> str:
        return f"{key} ({values['url']})"

    def apply(self, ctx: ApplyContext, change: Change) -> None:
        session, actor = ctx.session, ctx.actor_id
        if change.action == "delete":
            service.delete(session, change.key, actor_id=actor)
            return
        values = change.desired
        assert values is not None
        secret: Secret | None = values["secret"]
        if change.action == "create":
            if secret is None:
                raise InvalidInput(
                    "webhooks.error.secret", detail="a new webhook needs secret: ${ENV_NAME}"
                )
            service.create(
                session,
                ctx.settings,
                ctx.encryptor,
                url=values["url"],
                event_types=values["event_types"],
                description=values["description"],
                actor_id=actor,
                subscription_id=change.key,
                secret=secret.value,
            )
            if values["status"] == "paused":
                service.pause(session, change.key, actor_id=actor)
            return
        fields = change.fields
        if fields.keys() & {"url", "event_types", "description"}:
            service.update(
                session,
                ctx.settings,
                change.key,
                version=None,
                url=values["url"],
                event_types=values["event_types"],
                description=values["description"],
                actor_id=actor,
            )
        if "secret" in fields and secret is not None:
            service.rotate_secret(
                session, ctx.encryptor, change.key, actor_id=actor, secret=secret.value
            )
        if "status" in fields:
            if values["status"] == "paused":
                service.pause(session, change.key, actor_id=actor)
            else:
                service.resume(session, change.key, actor_id=actor)
