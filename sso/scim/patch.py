"""PATCH (RFC 7644 §3.5.2) applied to a resource's JSON: ``add``, ``remove`` and ``replace``
with attribute paths, sub-attributes, extension URNs and value paths (``emails[type eq
"work"].value``, ``members[value eq "…"]``). The result then goes through the same checks as a
PUT, so a PATCH can do nothing a replacement could not.

Value filters are evaluated here on the elements of one resource's multi-valued attribute (a
handful of values), never on a collection: searching resources is SQL (sso.storage.scim)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from scim2_models import ScimFilter
from scim2_models.path.expressions import Comparison, FilterNode, LogicalExpr, Not, Present

from sso.core.errors import InvalidInput
from sso.scim.documents import PATCH_OP, lookup


class PatchRefused(InvalidInput):
    """A malformed operation; ``scim_type`` is RFC 7644 §3.12's (invalidPath, noTarget …)."""

    def __init__(self, scim_type: str, detail: str) -> None:
        super().__init__("scim.invalid_patch", detail=detail)
        self.scim_type = scim_type


@dataclass(frozen=True)
class Target:
    schema: str | None  # an extension URN the path starts with
    attr: str | None  # None: the extension object itself
    value_filter: FilterNode | None
    sub_attr: str | None


_PATH = re.compile(
    r"^(?P<attr>[A-Za-z$][\w$-]*)(?:\[(?P<filter>.+)\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$"
)


def parse_path(path: str, schemas: tuple[str, ...]) -> Target:
    schema = None
    rest = path.strip()
    for urn in schemas:
        if rest.casefold() == urn.casefold():
            return Target(urn, None, None, None)
        if rest.casefold().startswith(urn.casefold() + ":"):
            schema, rest = urn, rest[len(urn) + 1 :]
            break
    match = _PATH.fullmatch(rest)
    if not match:
        raise PatchRefused("invalidPath", f"not an attribute path: {path!r}")
    value_filter = None
    if match["filter"]:
        try:
            value_filter = ScimFilter(match["filter"]).ast
        except Exception as exc:  # the parser's own errors: all mean a bad filter
            raise PatchRefused("invalidFilter", f"bad value filter in {path!r}") from exc
    return Target(schema, match["attr"], value_filter, match["sub"])


def _key(container: dict[str, Any], name: str) -> str:
    folded = name.casefold()
    return next((k for k in container if k.casefold() == folded), name)


def _text(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def matches(node: FilterNode, element: Any) -> bool:
    """Whether one value of a multi-valued attribute passes a value filter."""
    if isinstance(node, LogicalExpr):
        results = (matches(t, element) for t in node.terms)
        return all(results) if str(node.op) == "and" else any(results)
    if isinstance(node, Not):
        return not matches(node.expr, element)
    if isinstance(node, Present):
        return lookup(element, node.attr_path.attr) not in (None, "", [])
    if isinstance(node, Comparison):
        have, want, op = (
            _text(lookup(element, node.attr_path.attr)),
            _text(node.value),
            str(node.op),
        )
        if op == "eq":
            return bool(have == want)
        if op == "ne":
            return bool(have != want)
        if have is None or want is None:
            return False
        if op in ("co", "sw", "ew"):
            if not isinstance(have, str) or not isinstance(want, str):
                return False
            return {"co": want in have, "sw": have.startswith(want), "ew": have.endswith(want)}[op]
        try:
            return bool(
                {"gt": have > want, "ge": have >= want, "lt": have < want, "le": have <= want}[op]
            )
        except TypeError:
            return False
    raise PatchRefused("invalidFilter", "unsupported value filter")


def _merge(container: dict[str, Any], values: dict[str, Any], *, add: bool) -> None:
    for name, value in values.items():
        key = _key(container, name)
        current = container.get(key)
        if add and isinstance(current, list) and isinstance(value, list):
            container[key] = current + [v for v in value if v not in current]
        elif isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value, add=add)
        else:
            container[key] = value


def _operate(resource: dict[str, Any], op: str, target: Target, value: Any) -> None:
    container = resource
    if target.schema is not None:
        container = resource.setdefault(_key(resource, target.schema), {})
        if target.attr is None:  # the whole extension
            if op == "remove":
                resource.pop(_key(resource, target.schema), None)
            elif isinstance(value, dict):
                _merge(container, value, add=op == "add")
            else:
                raise PatchRefused("invalidValue", "an extension's value is an object")
            return
    assert target.attr is not None
    key = _key(container, target.attr)
    current = container.get(key)
    if target.value_filter is not None:
        if not isinstance(current, list):
            if op == "remove" or op == "replace":
                raise PatchRefused("noTarget", f"no value of {target.attr} matches")
            return
        chosen = [e for e in current if isinstance(e, dict) and matches(target.value_filter, e)]
        if not chosen:
            raise PatchRefused("noTarget", f"no value of {target.attr} matches the filter")
        for element in chosen:
            if target.sub_attr is None:
                if op == "remove":
                    current.remove(element)
                elif isinstance(value, dict):
                    _merge(element, value, add=False)
                else:
                    raise PatchRefused("invalidValue", "a value path's value is an object")
            elif op == "remove":
                element.pop(_key(element, target.sub_attr), None)
            else:
                element[_key(element, target.sub_attr)] = value
        return
    if target.sub_attr is not None:
        if isinstance(current, list):  # emails.value: every value's sub-attribute
            for element in current:
                if isinstance(element, dict):
                    if op == "remove":
                        element.pop(_key(element, target.sub_attr), None)
                    else:
                        element[_key(element, target.sub_attr)] = value
            return
        parent = container.setdefault(key, {}) if op != "remove" else (current or {})
        if not isinstance(parent, dict):
            raise PatchRefused("invalidPath", f"{target.attr} has no sub-attributes")
        if op == "remove":
            parent.pop(_key(parent, target.sub_attr), None)
        else:
            parent[_key(parent, target.sub_attr)] = value
        return
    if op == "remove":
        container.pop(key, None)
    elif op == "add" and isinstance(current, list):
        extra = value if isinstance(value, list) else [value]
        container[key] = current + [v for v in extra if v not in current]
    elif op == "add" and isinstance(current, dict) and isinstance(value, dict):
        _merge(current, value, add=True)
    else:
        container[key] = value


def apply(resource: dict[str, Any], body: Any, schemas: tuple[str, ...]) -> dict[str, Any]:
    """The resource after the PatchOp ``body``; raises :class:`PatchRefused`."""
    if not isinstance(body, dict) or PATCH_OP not in (lookup(body, "schemas") or []):
        raise PatchRefused("invalidSyntax", f"a PATCH body is a {PATCH_OP} message")
    operations = lookup(body, "Operations")
    if not isinstance(operations, list) or not operations:
        raise PatchRefused("invalidSyntax", "Operations must be a non-empty list")
    result = copy.deepcopy(resource)
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchRefused("invalidSyntax", "an operation is an object")
        op = str(lookup(operation, "op") or "").casefold()
        if op not in ("add", "remove", "replace"):
            raise PatchRefused("invalidSyntax", f"unknown op {op!r}")
        path, value = lookup(operation, "path"), lookup(operation, "value")
        if path is None:
            if op == "remove":
                raise PatchRefused("noTarget", "remove needs a path")
            if not isinstance(value, dict):
                raise PatchRefused("invalidValue", "without a path the value is an object")
            for name, item in value.items():
                target = parse_path(name, schemas)
                _operate(result, op, target, item)
            continue
        if not isinstance(path, str):
            raise PatchRefused("invalidPath", "path is a string")
        if op != "remove" and value is None:
            raise PatchRefused("invalidValue", f"{op} needs a value")
        _operate(result, op, parse_path(path, schemas), value)
    return result
