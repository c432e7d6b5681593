"""Agencies (OPD) as a tree: each entry has ``code``, ``name`` and its sub-agencies in
``children``. Applied through :mod:`sso.admin.services.agencies` (create, rename, move,
delete): parents before children, and when pruning, children before parents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from sso.admin.services import agencies as service
from sso.config_code.model import ApplyContext, Change, Field, Handler, ReadContext, Ref
from sso.runtime import Runtime
from sso.storage import agencies as repo

FIELDS = (
    Field("code", "str", required=True, nullable=False),
    Field("name", "str", required=True, nullable=False),
)


class Agencies(Handler):
    kind = "agency"
    section = "agencies"

    def current(self, session: Session, rt: Runtime) -> dict[str, dict[str, Any]]:
        rows = repo.list_all(session)
        codes = {a.id: a.code for a in rows}
        return {
            a.code: {"name": a.name, "parent": codes.get(a.parent_id) if a.parent_id else None}
            for a in rows
        }

    def export(self, session: Session, rt: Runtime) -> list[dict[str, Any]]:
        flat = self.current(session, rt)

        def subtree(parent: str | None) -> list[dict[str, Any]]:
            out = []
            for code in sorted(c for c, v in flat.items() if v["parent"] == parent):
                entry: dict[str, Any] = {"code": code, "name": flat[code]["name"]}
                children = subtree(code)
                if children:
                    entry["children"] = children
                out.append(entry)
            return out

        return subtree(None)

    def read(self, items: list[Any], ctx: ReadContext) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}

        def walk(entries: list[Any], parent: str | None, where: str) -> None:
            for index, item in enumerate(entries):
                at = f"{where}[{index}]"
                children: Any = []
                if isinstance(item, dict):
                    item = dict(item)
                    children = item.pop("children", None) or []
                values = ctx.fields(item, FIELDS, at)
                code = str(item.get("code", "")).strip().upper() if isinstance(item, dict) else ""
                if code and code in found:
                    ctx.problem(f"{at}.code", f"agency {code} appears twice")
                elif values is None:
                    if code:
                        ctx.failed.add((self.kind, code))
                else:
                    found[code] = {"name": " ".join(values["name"].split()), "parent": parent}
                if not isinstance(children, list):
                    ctx.problem(f"{at}.children", "must be a list")
                elif code:
                    walk(children, code, f"{at}.children")

        walk(items, None, self.section)
        return found

    def references(self, key: str, values: Mapping[str, Any]) -> list[tuple[Ref, str]]:
        return [((self.kind, values["parent"]), "parent")] if values["parent"] else []

    def order(
        self,
        changes: list[Change],
        desired: Mapping[str, Mapping[str, Any]],
        current: Mapping[str, Mapping[str, Any]],
    ) -> list[Change]:
        """Top-down in the file's tree for creates and moves (a parent is in place before its
        children, so no move makes a cycle); bottom-up in the stored tree for deletes."""

        def depth(code: str, tree: Mapping[str, Mapping[str, Any]]) -> int:
            level, parent = 0, tree.get(code, {}).get("parent")
            while isinstance(parent, str) and parent in tree and level <= len(tree):
                level, parent = level + 1, tree[parent].get("parent")
            return level

        return sorted(
            changes,
            key=lambda c: (
                c.action == "delete",
                -depth(c.key, current) if c.action == "delete" else depth(c.key, desired),
                c.key,
            ),
        )

    def apply(self, ctx: ApplyContext, change: Change) -> None:
        session, actor = ctx.session, ctx.actor_id
        if change.action == "create":
            assert change.desired is not None
            parent = change.desired["parent"]
            service.create(
                session,
                change.key,
                change.desired["name"],
                _id(session, parent) if parent else None,
                actor_id=actor,
            )
            return
        agency = repo.get_by_code(session, change.key)
        assert agency is not None
        if change.action == "delete":
            service.delete(session, agency.id, agency.version, actor_id=actor)
            return
        if "name" in change.fields:
            service.rename(
                session, agency.id, change.fields["name"][1], agency.version, actor_id=actor
            )
        if "parent" in change.fields:
            parent = change.fields["parent"][1]
            service.move(
                session,
                agency.id,
                _id(session, parent) if parent else None,
                agency.version,
                actor_id=actor,
            )


def _id(session: Session, code: str) -> int:
    agency = repo.get_by_code(session, code)
    assert agency is not None  # created before its children (order), or already there
    return agency.id
