"""Export, plan and apply. :func:`export_document` writes every kind's section in a stable
order. :func:`run` reads a document, reports every problem of the file (shape, types, unknown
fields, references between objects, missing environment variables), diffs it against the
database, and carries out each change through its kind's handler inside a savepoint, so a
refusal by a service (the console's rules) is one more problem and the rest still run. The
caller commits only a plan without problems, and never on a dry run: the database then holds
exactly the plan or nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.config_code.agencies import Agencies
from sso.config_code.clients import Clients
from sso.config_code.model import (
    ACTOR,
    ApplyContext,
    Change,
    Handler,
    Problem,
    ReadContext,
    Ref,
    show,
)
from sso.config_code.roles import RoleAssignments, Roles
from sso.config_code.upstreams import Upstreams
from sso.config_code.webhooks import Webhooks
from sso.core.errors import DomainError
from sso.core.events import Event
from sso.runtime import Runtime
from sso.storage import audit
from sso.web.i18n import translate

VERSION = 1
# In the order of creation: an object's references are made before it (deletes run backwards).
HANDLERS: tuple[Handler, ...] = (
    Agencies(),
    Clients(),
    Roles(),
    RoleAssignments(),
    Upstreams(),
    Webhooks(),
)
HEADER = (
    "# Tangsel SSO configuration, written by `sso config export`.\n"
    "# Apply with `sso config apply FILE [--dry-run] [--prune]`; secrets are ${ENV_NAME}\n"
    "# references, read from the environment when the file is applied.\n"
)
SYMBOLS = {"create": "+", "update": "~", "delete": "-"}


def export_document(session: Session, rt: Runtime) -> str:
    doc: dict[str, Any] = {"version": VERSION}
    for handler in HANDLERS:
        doc[handler.section] = handler.export(session, rt)
    return HEADER + yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096
    )


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def summary(self) -> str:
        if not self.changes:
            return "No changes."
        return (
            f"Plan: {self.count('create')} to create, {self.count('update')} to change, "
            f"{self.count('delete')} to delete."
        )

    def render(self) -> str:
        lines = []
        for change in self.changes:
            lines.append(f"{SYMBOLS[change.action]} {change.kind} {change.label}")
            width = max((len(name) for name in change.fields), default=0)
            for name, (old, new) in change.fields.items():
                text = show(new) if change.action == "create" else f"{show(old)} -> {show(new)}"
                lines.append(f"    {(name + ':').ljust(width + 1)} {text}")
        lines.append(self.summary())
        return "\n".join(lines)


def _load(text: str, ctx: ReadContext) -> dict[str, Any] | None:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        ctx.problem(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")
        return None
    if not isinstance(doc, dict):
        ctx.problem("file", "must be a YAML mapping (version, agencies, roles, clients …)")
        return None
    if doc.get("version") != VERSION:
        ctx.problem("version", f"must be {VERSION}")
    known = {"version", *(h.section for h in HANDLERS)}
    for name in sorted(set(map(str, doc)) - known):
        ctx.problem(name, f"unknown section (known: {', '.join(sorted(known))})")
    return doc


def _diff(
    handler: Handler, desired: Mapping[str, dict[str, Any]], current: Mapping[str, dict[str, Any]]
) -> list[Change]:
    changes = []
    for key, new in desired.items():
        old = current.get(key)
        if old is None:
            shown = {k: (None, v) for k, v in new.items() if v not in (None, [], "")}
            changes.append(
                Change(handler.kind, key, "create", handler.label(key, new), shown, new, None)
            )
            continue
        fields = {
            name: (old.get(name), value)
            for name, value in new.items()
            if not (value is None and name in handler.keep_when_absent) and old.get(name) != value
        }
        if fields:
            changes.append(
                Change(handler.kind, key, "update", handler.label(key, new), fields, new, old)
            )
    return changes


def _message(exc: DomainError) -> str:
    return exc.detail or translate("en", exc.message, **exc.params)


def run(
    session: Session, rt: Runtime, text: str, environ: Mapping[str, str], *, prune: bool = False
) -> Plan:
    """Plan ``text`` against the database and carry the plan out in ``session``'s transaction
    (the caller commits, or rolls back on problems and dry runs)."""
    ctx = ReadContext(rt, environ)
    doc = _load(text, ctx) or {}
    plan = Plan()
    states: list[tuple[Handler, dict[str, dict[str, Any]], dict[str, dict[str, Any]]]] = []
    final: dict[str, set[str]] = {}
    for handler in HANDLERS:
        current = handler.current(session, rt)
        items = doc.get(handler.section)
        present = handler.section in doc
        if items is None:
            items = []
        if not isinstance(items, list):
            ctx.problem(handler.section, "must be a list")
            items, present = [], False
        desired = handler.read(items, ctx) if present else {}
        changes = _diff(handler, desired, current)
        if present and prune:
            changes += [
                Change(handler.kind, key, "delete", handler.label(key, old), {}, None, old)
                for key, old in current.items()
                if key not in desired
                and (handler.kind, key) not in ctx.failed
                and not handler.keep(key, old)
            ]
        deleted = {c.key for c in changes if c.action == "delete"}
        final[handler.kind] = set(desired) | (set(current) - deleted)
        states.append((handler, desired, current))
        plan.changes += changes
    by_kind = {h.kind: h for h in HANDLERS}
    for change in plan.changes:
        if change.desired is None:
            continue
        for (kind, key), name in by_kind[change.kind].references(change.key, change.desired):
            if key not in final.get(kind, set()) and (kind, key) not in ctx.failed:
                ctx.problem(f"{change.kind} {change.label}", f"{name}: there is no {kind} {key}")
                ctx.failed.add(change.ref)
    plan.problems = ctx.problems
    _carry_out(session, rt, plan, states, ctx.failed)
    if plan.changes and not plan.problems:
        audit.record(
            session,
            Event.CONFIG_APPLIED,
            actor_id=ACTOR,
            target_type="config",
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            created=plan.count("create"),
            changed=plan.count("update"),
            deleted=plan.count("delete"),
            prune=prune,
        )
    return plan


def _carry_out(
    session: Session,
    rt: Runtime,
    plan: Plan,
    states: list[tuple[Handler, dict[str, dict[str, Any]], dict[str, dict[str, Any]]]],
    failed: set[Ref],
) -> None:
    ordered: list[tuple[Handler, Change]] = []
    for handler, desired, current in states:
        mine = [c for c in plan.changes if c.kind == handler.kind and c.action != "delete"]
        ordered += [(handler, c) for c in handler.order(mine, desired, current)]
    for handler, desired, current in reversed(states):
        mine = [c for c in plan.changes if c.kind == handler.kind and c.action == "delete"]
        ordered += [(handler, c) for c in handler.order(mine, desired, current)]
    plan.changes = [c for _h, c in ordered]
    apply_ctx = ApplyContext(session, rt)
    for handler, change in ordered:
        needs = (
            []
            if change.desired is None
            else [ref for ref, _name in handler.references(change.key, change.desired)]
        )
        if change.ref in failed or any(ref in failed for ref in needs):
            failed.add(change.ref)  # its own problem, or that of what it needs, is reported
            continue
        try:
            with session.begin_nested():
                handler.apply(apply_ctx, change)
        except DomainError as exc:
            plan.problems.append(Problem(f"{change.kind} {change.label}", _message(exc)))
            failed.add(change.ref)
        except IntegrityError as exc:
            plan.problems.append(
                Problem(f"{change.kind} {change.label}", f"refused by the database: {exc.orig}")
            )
            failed.add(change.ref)
