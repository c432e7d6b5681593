"""The vocabulary shared by the handlers and the engine: problems, secret references, field
schemas, changes, and the :class:`Handler` base class each kind of object implements."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.crypto import Encryptor
from sso.runtime import Runtime

ACTOR = "config-apply"  # the audit actor of every change `sso config apply` makes
ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
Action = Literal["create", "update", "delete"]
Ref = tuple[str, str]  # (kind, key) of an object


@dataclass(frozen=True)
class Problem:
    where: str  # "clients[2].redirect_uris", "client portal-data"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True, eq=False)
class Secret:
    """A secret: in the file, the ``${ENV_NAME}`` reference and the variable's value; in the
    database, only what the kind stores of it. Two are equal when their digests are (a keyed
    hash, or the value itself where the provider must keep it); neither prints its value."""

    env: str | None  # the variable's name; None for a stored secret
    digest: str | None = field(repr=False)
    value: str | None = field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __str__(self) -> str:
        return "${" + self.env + "}" if self.env else "(stored secret)"


def reference(env: str) -> str:
    return "${" + env + "}"


@dataclass(frozen=True)
class Field:
    """One field of an entry: its YAML type and its value when the entry leaves it out."""

    name: str
    kind: Literal["str", "text", "bool", "int", "list", "dict", "secret"]
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = True


@dataclass
class ReadContext:
    """What reading a file needs and finds: the environment and the problems."""

    runtime: Runtime
    environ: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)
    failed: set[Ref] = field(default_factory=set)  # objects whose entries are wrong

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def secret(self, raw: object, where: str, digest: Callable[[str], str]) -> Secret | None:
        if not isinstance(raw, str) or not (match := ENV_REFERENCE.fullmatch(raw.strip())):
            self.problem(
                where, "must be a ${ENV_NAME} reference (secrets are never written in the file)"
            )
            return None
        env = match.group(1)
        value = self.environ.get(env)
        if not value:
            self.problem(where, f"environment variable {env} is not set")
            return None
        return Secret(env, digest(value), value)

    def fields(
        self,
        item: object,
        schema: Iterable[Field],
        where: str,
        digest: Callable[[str], str] | None = None,
    ) -> dict[str, Any] | None:
        """``item`` checked against ``schema``, defaults filled in; None (and problems) when
        it does not fit."""
        if not isinstance(item, dict):
            self.problem(where, "must be a mapping")
            return None
        schema = list(schema)
        before = len(self.problems)
        for name in sorted(set(map(str, item)) - {f.name for f in schema}):
            self.problem(f"{where}.{name}", "unknown field")
        values: dict[str, Any] = {}
        for spec in schema:
            at = f"{where}.{spec.name}"
            if spec.name not in item or (item[spec.name] is None and spec.kind == "secret"):
                if spec.required:
                    self.problem(at, "is required")
                values[spec.name] = _copy(spec.default)
                continue
            values[spec.name] = self._value(item[spec.name], spec, at, digest)
        return values if len(self.problems) == before else None

    def _value(self, raw: Any, spec: Field, at: str, digest: Callable[[str], str] | None) -> Any:
        if raw is None:
            if not spec.nullable:
                self.problem(at, "may not be empty")
            return None
        if spec.kind == "secret":
            return self.secret(raw, at, digest or (lambda value: value))
        expected: dict[str, type | tuple[type, ...]] = {
            "str": str,
            "text": str,
            "bool": bool,
            "int": int,
            "list": list,
            "dict": dict,
        }
        if not isinstance(raw, expected[spec.kind]) or (
            spec.kind == "int" and isinstance(raw, bool)
        ):
            self.problem(at, f"must be {_KIND_WORDS[spec.kind]}")
            return None
        return self._checked(raw, spec, at)

    def _checked(self, raw: Any, spec: Field, at: str) -> Any:
        if spec.kind == "list":
            if not all(isinstance(v, str) for v in raw):
                self.problem(at, "must be a list of strings")
                return None
            raw = list(dict.fromkeys(v.strip() for v in raw))
            bad = [v for v in raw if spec.choices and v not in spec.choices]
            if bad:
                self.problem(at, f"unknown value(s) {bad}; one of {list(spec.choices)}")
            return raw
        if spec.kind == "str":
            raw = raw.strip()
        if spec.choices and raw not in spec.choices:
            self.problem(at, f"{raw!r} is not one of {list(spec.choices)}")
        return raw


_KIND_WORDS = {
    "str": "a string",
    "text": "a string",
    "bool": "true or false",
    "int": "a whole number",
    "list": "a list",
    "dict": "a mapping",
}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


@dataclass
class Change:
    kind: str
    key: str
    action: Action
    label: str  # how the plan names the object
    fields: dict[str, tuple[Any, Any]]  # name -> (old, new); create: (None, new)
    desired: dict[str, Any] | None
    current: dict[str, Any] | None

    @property
    def ref(self) -> Ref:
        return (self.kind, self.key)


@dataclass
class ApplyContext:
    session: Session
    runtime: Runtime
    actor_id: str = ACTOR

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def encryptor(self) -> Encryptor:
        return self.runtime.encryptor


class Handler:
    """One kind of object. Subclasses set the class variables and implement the methods."""

    kind: ClassVar[str]  # singular, in the plan: "agency"
    section: ClassVar[str]  # the YAML key: "agencies"
    # Fields that, left out of an entry (None), keep the stored value instead of clearing it.
    keep_when_absent: ClassVar[frozenset[str]] = frozenset()

    def export(self, session: Session, rt: Runtime) -> list[dict[str, Any]]:
        raise NotImplementedError

    def read(self, items: list[Any], ctx: ReadContext) -> dict[str, dict[str, Any]]:
        """The file's entries as ``{key: values}``; a wrong entry is left out, with problems."""
        raise NotImplementedError

    def current(self, session: Session, rt: Runtime) -> dict[str, dict[str, Any]]:
        """The database's objects, keyed and shaped like :meth:`read`'s result."""
        raise NotImplementedError

    def label(self, key: str, values: Mapping[str, Any]) -> str:
        return key

    def references(self, key: str, values: Mapping[str, Any]) -> list[tuple[Ref, str]]:
        """Objects of other kinds (or this one) ``key`` needs, each with the field naming it."""
        return []

    def keep(self, key: str, values: Mapping[str, Any]) -> bool:
        """Whether a stored object stays even when ``--prune`` finds it missing from the file."""
        return False

    def order(
        self,
        changes: list[Change],
        desired: Mapping[str, Mapping[str, Any]],
        current: Mapping[str, Mapping[str, Any]],
    ) -> list[Change]:
        """The order to apply this kind's creates and updates (``desired``: the file's
        objects), and its deletes (``current``: the database's)."""
        return changes

    def apply(self, ctx: ApplyContext, change: Change) -> None:
        raise NotImplementedError


def show(value: Any) -> str:
    """A value as the plan prints it (never a secret's value)."""
    if isinstance(value, Secret):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
