"""Upstream identity providers (Google, INApas, any OpenID provider), keyed by ``slug`` (it is
in the callback URI the upstream knows). The client secret the provider sends to the upstream is
``secret: ${ENV_NAME}``; it is stored encrypted, so apply compares it with the variable's value
and replaces it when they differ. Applied through :mod:`sso.federation.registry`.

Apply never deletes an upstream, not even with ``--prune``: that would unlink every person's
identity there. ``enabled: false`` switches one off (and on again with its links intact)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from sso.config_code.model import ApplyContext, Change, Field, Handler, ReadContext, Secret
from sso.core.crypto import keyed_hash
from sso.core.errors import InvalidInput
from sso.federation import registry as service
from sso.runtime import Runtime

FIELDS = (
    Field("slug", "str", required=True, nullable=False),
    Field("name", "str", required=True, nullable=False),
    Field("preset", "str", default="oidc", choices=service.PRESETS, nullable=False),
    Field("issuer", "str", required=True, nullable=False),
    Field("client_id", "str", required=True, nullable=False),
    Field("secret", "secret"),
    Field("scope", "str"),
    Field("accounts", "str", default="citizen", choices=service.ACCOUNTS, nullable=False),
    Field("identity_assurance", "bool"),
    Field("staff_match", "str", choices=service.STAFF_MATCHES),
    Field("staff_claim", "str"),
    Field("enabled", "bool", default=True, nullable=False),
)
CHANGEABLE = (
    "name",
    "issuer",
    "client_id",
    "scope",
    "accounts",
    "identity_assurance",
    "staff_match",
    "staff_claim",
)


def _digest(rt: Runtime, value: str) -> str:
    """Compare secrets by keyed hash, so neither side's value sits in a plan's objects."""
    return keyed_hash(rt.secret_key, value, "config-upstream-secret")


def variable(slug: str) -> str:
    return "UPSTREAM_SECRET_" + slug.upper().replace("-", "_")


class Upstreams(Handler):
    kind = "upstream"
    section = "upstreams"
    keep_when_absent = frozenset({"secret"})

    def current(self, session: Session, rt: Runtime) -> dict[str, dict[str, Any]]:
        found = {}
        for row in service.list_upstreams(session):
            values = {f.name: getattr(row, f.name, None) for f in FIELDS}
            values["secret"] = Secret(None, _digest(rt, service.client_secret(rt.encryptor, row)))
            found[row.slug] = values
        return found

    def export(self, session: Session, rt: Runtime) -> list[dict[str, Any]]:
        out = []
        for slug, values in sorted(self.current(session, rt).items()):
            values = {**values, "secret": "${" + variable(slug) + "}"}
            out.append({k: v for k, v in values.items() if v is not None})
        return out

    def read(self, items: list[Any], ctx: ReadContext) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items):
            at = f"{self.section}[{index}]"
            values = ctx.fields(item, FIELDS, at, digest=lambda v: _digest(ctx.runtime, v))
            if values is None:
                if isinstance(item, dict) and isinstance(item.get("slug"), str):
                    ctx.failed.add((self.kind, item["slug"].strip()))
                continue
            if values["slug"] in found:
                ctx.problem(f"{at}.slug", f"upstream {values['slug']} appears twice")
                continue
            preset = values["preset"]
            if values["scope"] is None:
                values["scope"] = service.PRESET_SCOPE[preset]
            values["scope"] = " ".join(dict.fromkeys(values["scope"].split()))
            if values["identity_assurance"] is None:
                values["identity_assurance"] = service.PRESET_ASSURANCE[preset]
            if values["staff_match"] is None:
                values["staff_claim"] = None
            elif not values["staff_claim"]:
                values["staff_claim"] = values["staff_match"]
            found[values["slug"]] = values
        return found

    def label(self, key: str, values: Mapping[str, Any]) -> str:
        return f"{key} ({values['name']})"

    def keep(self, key: str, values: Mapping[str, Any]) -> bool:
        return True

    def apply(self, ctx: ApplyContext, change: Change) -> None:
        values = change.desired
        assert values is not None  # never deleted (keep)
        secret: Secret | None = values["secret"]
        if change.action == "create":
            if secret is None:
                raise InvalidInput(
                    "upstream.secret_required", detail="a new upstream needs secret: ${ENV_NAME}"
                )
            service.create(
                ctx.session,
                ctx.settings,
                ctx.encryptor,
                service.UpstreamSpec(
                    slug=change.key,
                    name=values["name"],
                    issuer=values["issuer"],
                    client_id=values["client_id"],
                    client_secret=secret.value or "",
                    scope=values["scope"],
                    accounts=values["accounts"],
                    preset=values["preset"],
                    identity_assurance=values["identity_assurance"],
                    staff_match=values["staff_match"],
                    staff_claim=values["staff_claim"],
                ),
                actor_id=ctx.actor_id,
            )
        else:
            if "preset" in change.fields:
                raise InvalidInput(
                    "upstream.preset_invalid", detail="preset cannot change (add a new upstream)"
                )
            changed = {k: values[k] for k in CHANGEABLE if k in change.fields}
            if "staff_match" in changed and changed["staff_match"] is None:
                changed["staff_match"] = ""  # the registry's way to remove the mapping
            if "secret" in change.fields and secret is not None:
                changed["client_secret"] = secret.value
            if changed:
                service.update(
                    ctx.session,
                    ctx.settings,
                    ctx.encryptor,
                    change.key,
                    service.UpstreamChanges(**changed),
                    actor_id=ctx.actor_id,
                )
        if change.action == "create" and values["enabled"]:
            return
        if change.action == "create" or "enabled" in change.fields:
            toggle = service.enable if values["enabled"] else service.disable
            toggle(ctx.session, change.key, actor_id=ctx.actor_id)
