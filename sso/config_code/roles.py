"""Roles (global ones such as ``admin``, and app roles of one client) and the roles given to
whole agencies. A role is ``name`` plus, for an app role, the ``client`` it belongs to; an
assignment is ``role`` (+ ``client``) and ``agency``. Roles given to single people are not
configuration (they follow the people) and are never touched. Applied through
:mod:`sso.admin.services.roles`; the console's built-in roles are never pruned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from sso.admin.services import roles as service
from sso.config_code.model import ApplyContext, Change, Field, Handler, ReadContext, Ref
from sso.core.errors import NotFound
from sso.db.models import Role
from sso.runtime import Runtime
from sso.storage import agencies as agency_repo
from sso.storage import clients as client_repo
from sso.storage import config_rows
from sso.storage import roles as repo

ROLE_FIELDS = (
    Field("name", "str", required=True, nullable=False),
    Field("client", "str"),
    Field("description", "text", default="", nullable=False),
)
ASSIGNMENT_FIELDS = (
    Field("role", "str", required=True, nullable=False),
    Field("client", "str"),
    Field("agency", "str", required=True, nullable=False),
)


def role_key(name: str, client: str | None) -> str:
    return f"{name}@{client}" if client else name


def find_role(session: Session, name: str, client: str | None) -> Role:
    client_pk = None
    if client:
        row = client_repo.get_by_client_id(session, client)
        if row is None:
            raise NotFound("error.client_unknown", detail=f"no client {client!r}")
        client_pk = row.id
    role = repo.get(session, name, client_pk)
    if role is None:
        raise NotFound("admin.role.unknown", detail=f"no role {role_key(name, client)!r}")
    return role


def _sorted(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return sorted(
        items,
        key=lambda v: (v.get("client") is not None, v.get("client") or "", *(v[k] for k in keys)),
    )


class Roles(Handler):
    kind = "role"
    section = "roles"

    def current(self, session: Session, rt: Runtime) -> dict[str, dict[str, Any]]:
        clients = {c.id: c.client_id for c in client_repo.list_all(session)}
        found = {}
        for role, _count in repo.list_all(session):
            client = clients[role.client_id] if role.client_id else None
            found[role_key(role.name, client)] = {
                "name": role.name,
                "client": client,
                "description": role.description or "",
            }
        return found

    def export(self, session: Session, rt: Runtime) -> list[dict[str, Any]]:
        rows = [
            {k: v for k, v in values.items() if v is not None}
            for values in self.current(session, rt).values()
        ]
        return _sorted(rows, "name")

    def read(self, items: list[Any], ctx: ReadContext) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items):
            at = f"{self.section}[{index}]"
            values = ctx.fields(item, ROLE_FIELDS, at)
            if values is None:
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    ctx.failed.add(
                        (self.kind, role_key(item["name"].strip().lower(), item.get("client")))
                    )
                continue
            values["name"] = values["name"].lower()
            values["description"] = values["description"].strip()[:300]  # as the service keeps it
            key = role_key(values["name"], values["client"])
            if key in found:
                ctx.problem(at, f"role {key} appears twice")
                continue
            found[key] = values
        return found

    def label(self, key: str, values: Mapping[str, Any]) -> str:
        client = values.get("client")
        return f"{values['name']} (app role of client {client})" if client else values["name"]

    def references(self, key: str, values: Mapping[str, Any]) -> list[tuple[Ref, str]]:
        return [(("client", values["client"]), "client")] if values["client"] else []

    def keep(self, key: str, values: Mapping[str, Any]) -> bool:
        return values["client"] is None and values["name"] in service.BUILT_IN

    def apply(self, ctx: ApplyContext, change: Change) -> None:
        values = change.desired or change.current
        assert values is not None
        if change.action == "create":
            service.create(
                ctx.session,
                values["name"],
                values["client"],
                values["description"],
                actor_id=ctx.actor_id,
            )
            return
        role = find_role(ctx.session, values["name"], values["client"])
        if change.action == "delete":
            service.delete(ctx.session, role, actor_id=ctx.actor_id)
        else:
            service.describe(ctx.session, role, values["description"], actor_id=ctx.actor_id)


class RoleAssignments(Handler):
    kind = "role_assignment"
    section = "role_assignments"

    def current(self, session: Session, rt: Runtime) -> dict[str, dict[str, Any]]:
        found = {}
        for _row, role, agency, client in config_rows.agency_role_assignments(session):
            values = {"role": role.name, "client": client, "agency": agency}
            found[self._key(values)] = values
        return found

    def export(self, session: Session, rt: Runtime) -> list[dict[str, Any]]:
        rows = [
            {k: v for k, v in values.items() if v is not None}
            for values in self.current(session, rt).values()
        ]
        return _sorted(rows, "role", "agency")

    @staticmethod
    def _key(values: Mapping[str, Any]) -> str:
        return f"{role_key(values['role'], values['client'])} -> {values['agency']}"

    def read(self, items: list[Any], ctx: ReadContext) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items):
            at = f"{self.section}[{index}]"
            values = ctx.fields(item, ASSIGNMENT_FIELDS, at)
            if values is None:
                continue
            values["role"], values["agency"] = values["role"].lower(), values["agency"].upper()
            key = self._key(values)
            if key in found:
                ctx.problem(at, f"role assignment {key} appears twice")
                continue
            found[key] = values
        return found

    def references(self, key: str, values: Mapping[str, Any]) -> list[tuple[Ref, str]]:
        return [
            (("role", role_key(values["role"], values["client"])), "role"),
            (("agency", values["agency"]), "agency"),
        ]

    def apply(self, ctx: ApplyContext, change: Change) -> None:
        values = change.desired or change.current
        assert values is not None
        role = find_role(ctx.session, values["role"], values["client"])
        if change.action == "create":
            service.grant(ctx.session, role, f"agency:{values['agency']}", actor_id=ctx.actor_id)
            return
        agency = agency_repo.get_by_code(ctx.session, values["agency"])
        row = config_rows.role_assignment(ctx.session, role.id, agency.id) if agency else None
        if row is None:
            raise NotFound("admin.role.assignment_unknown", detail=f"no assignment {change.key}")
        service.revoke(ctx.session, role, row.id, actor_id=ctx.actor_id)
