"""SCIM queries (RFC 7644 §3.4.2): a parsed filter becomes a SQL condition over staff or
agencies, with sorting and 1-based pagination done by the database, never by loading every row.

The filter's tree comes from ``scim2_models`` (:class:`~scim2_models.ScimFilter`); this module
only maps attribute paths to columns. An attribute we do not hold matches nothing, as
RFC 7644 §3.4.2.2 asks of an attribute that has no value; an operator the attribute cannot take
raises :class:`FilterRefused` (the caller answers ``invalidFilter``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from scim2_models.path.expressions import (
    AttrPath,
    Comparison,
    FilterNode,
    LogicalExpr,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from sso.db.models import Agency, User

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:user"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:group"


# A column of a mapped class, or an expression over columns.
Expr = ColumnElement[Any] | InstrumentedAttribute[Any]


class FilterRefused(ValueError):
    """The filter names an attribute in a way we cannot answer (wrong operator or value)."""


@dataclass(frozen=True)
class Attribute:
    """How one SCIM attribute is read in SQL: ``column`` gives the expression; ``fold`` says the
    comparison ignores case (caseExact false), ``kind`` the SCIM type of its values."""

    column: Callable[[], Expr]
    kind: str = "string"  # string | boolean | dateTime
    fold: bool = True
    # For attributes held in another table (a Group's members): the condition for an operator
    # ("pr" for presence) and a value, instead of a column.
    condition: Callable[[str, Any], ColumnElement[bool]] | None = None


def _agency_code() -> ColumnElement[Any]:
    return select(Agency.code).where(Agency.id == User.agency_id).scalar_subquery()


USER_ATTRIBUTES: dict[str, Attribute] = {
    "id": Attribute(lambda: User.id, fold=False),
    "externalid": Attribute(lambda: User.external_id, fold=False),
    "username": Attribute(lambda: User.username_normalized),
    "displayname": Attribute(lambda: User.display_name_search),
    "name.givenname": Attribute(lambda: func.lower(User.given_name)),
    "name.familyname": Attribute(lambda: func.lower(User.family_name)),
    "title": Attribute(lambda: func.lower(User.position)),
    "emails": Attribute(lambda: User.email_normalized),
    "emails.value": Attribute(lambda: User.email_normalized),
    "emails.type": Attribute(lambda: _when(User.email_normalized, "work")),
    "emails.primary": Attribute(lambda: User.email_normalized.is_not(None), kind="boolean"),
    "phonenumbers": Attribute(lambda: func.lower(User.phone)),
    "phonenumbers.value": Attribute(lambda: func.lower(User.phone)),
    "phonenumbers.type": Attribute(lambda: _when(User.phone, "work")),
    "phonenumbers.primary": Attribute(lambda: User.phone.is_not(None), kind="boolean"),
    "active": Attribute(lambda: User.status == "active", kind="boolean"),
    "meta.created": Attribute(lambda: User.created_at, kind="dateTime"),
    "meta.lastmodified": Attribute(lambda: User.updated_at, kind="dateTime"),
    "employeenumber": Attribute(lambda: User.nip, fold=False),
    "department": Attribute(lambda: func.lower(_agency_code())),
}

GROUP_ATTRIBUTES: dict[str, Attribute] = {
    "id": Attribute(lambda: func.cast(Agency.id, _text_type()), fold=False),
    "externalid": Attribute(lambda: Agency.external_id, fold=False),
    "displayname": Attribute(lambda: func.lower(Agency.name)),
    "meta.created": Attribute(lambda: Agency.created_at, kind="dateTime"),
    "meta.lastmodified": Attribute(lambda: Agency.updated_at, kind="dateTime"),
    "members": Attribute(lambda: Agency.id, condition=lambda op, v: _member(op, v)),
    "members.value": Attribute(lambda: Agency.id, condition=lambda op, v: _member(op, v)),
}


def _text_type() -> Any:
    from sqlalchemy import String

    return String()


def _when(column: Expr, value: str) -> ColumnElement[Any]:
    from sqlalchemy import case

    return case((column.is_not(None), literal(value)), else_=None)


def _key(path: AttrPath, prefix: str = "") -> str:
    uri = (path.uri or "").lower()
    name = path.attr.lower() + (f".{path.sub_attr.lower()}" if path.sub_attr else "")
    if prefix:
        name = f"{prefix}.{name}"
    if uri in ("", CORE_USER, CORE_GROUP, ENTERPRISE):
        return name
    return f"{uri}:{name}"


def _coerce(attribute: Attribute, value: Any) -> Any:
    if attribute.kind == "boolean":
        if not isinstance(value, bool):
            raise FilterRefused("a boolean attribute compares with true or false")
        return value
    if attribute.kind == "dateTime":
        if not isinstance(value, str):
            raise FilterRefused("a dateTime attribute compares with a date string")
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise FilterRefused(f"not a dateTime: {value!r}") from exc
    if value is None or isinstance(value, bool | dict | list):
        raise FilterRefused("a string attribute compares with a string")
    text = str(value)
    return text.casefold() if attribute.fold else text


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _compare(attribute: Attribute, op: str, value: Any) -> ColumnElement[bool]:
    column = cast(ColumnElement[Any], attribute.column())
    if op in ("co", "sw", "ew"):
        if attribute.kind != "string":
            raise FilterRefused(f"{op} applies to strings only")
        text = _escape(_coerce(attribute, value))
        pattern = {"co": f"%{text}%", "sw": f"{text}%", "ew": f"%{text}"}[op]
        return column.like(pattern, escape="\\")
    if value is None:  # `attr eq null` is `not pr`, `ne null` is `pr` (RFC 7644 §3.4.2.2)
        if op == "eq":
            return column.is_(None)
        if op == "ne":
            return column.is_not(None)
        raise FilterRefused("null only compares with eq or ne")
    coerced = _coerce(attribute, value)
    if op in ("gt", "ge", "lt", "le") and attribute.kind == "boolean":
        raise FilterRefused(f"{op} does not apply to booleans")
    result: Any
    if op == "eq":
        result = column == coerced
    elif op == "ne":
        result = or_(column != coerced, column.is_(None))
    elif op == "gt":
        result = column > coerced
    elif op == "ge":
        result = column >= coerced
    elif op == "lt":
        result = column < coerced
    elif op == "le":
        result = column <= coerced
    else:
        raise FilterRefused(f"unknown operator {op}")
    return cast(ColumnElement[bool], result)


def compile_filter(
    node: FilterNode, attributes: dict[str, Attribute], prefix: str = ""
) -> ColumnElement[bool]:
    """The SQL condition of a filter tree over the table ``attributes`` describes."""
    if isinstance(node, LogicalExpr):
        terms = [compile_filter(t, attributes, prefix) for t in node.terms]
        return and_(*terms) if str(node.op) == "and" else or_(*terms)
    if isinstance(node, Not):
        return not_(compile_filter(node.expr, attributes, prefix))
    if isinstance(node, ValuePath):
        inner = _key(node.attr_path, prefix)
        return compile_filter(node.val_filter, attributes, inner)
    if isinstance(node, Present):
        attribute = attributes.get(_key(node.attr_path, prefix))
        if attribute is None:
            return false()
        if attribute.condition is not None:
            return attribute.condition("pr", None)
        column: Any = attribute.column()
        condition: ColumnElement[bool] = (
            column if attribute.kind == "boolean" else column.is_not(None)
        )
        return condition
    if isinstance(node, Comparison):
        attribute = attributes.get(_key(node.attr_path, prefix))
        if attribute is None:
            return false()
        if attribute.condition is not None:
            return attribute.condition(str(node.op), node.value)
        return _compare(attribute, str(node.op), node.value)
    raise FilterRefused(f"unsupported filter node {type(node).__name__}")


def _order(
    attributes: dict[str, Attribute], sort_by: AttrPath | None, descending: bool, key: Expr
) -> list[Any]:
    if sort_by is None:
        return [key]
    attribute = attributes.get(_key(sort_by))
    if attribute is None:
        return [key]
    column = attribute.column()
    return [column.desc() if descending else column.asc(), key]


@dataclass(frozen=True)
class Page:
    total: int
    rows: Sequence[Any]


def search_staff(
    session: Session,
    condition: ColumnElement[bool] | None,
    *,
    agencies: frozenset[int] | None,
    sort_by: AttrPath | None,
    descending: bool,
    start: int,
    count: int,
) -> Page:
    base = User.kind == "staff"
    if agencies is not None:  # a client limited to an agency subtree sees its staff only
        base = and_(base, User.agency_id.in_(sorted(agencies)))
    where = base if condition is None else and_(base, condition)
    total = session.scalar(select(func.count()).select_from(User).where(where)) or 0
    rows: Sequence[User] = []
    if count > 0:
        stmt = (
            select(User)
            .where(where)
            .order_by(*_order(USER_ATTRIBUTES, sort_by, descending, User.id))
            .offset(start - 1)
            .limit(count)
        )
        rows = session.scalars(stmt).unique().all()
    return Page(total, rows)


def search_agencies(
    session: Session,
    condition: ColumnElement[bool] | None,
    *,
    agencies: frozenset[int] | None,
    sort_by: AttrPath | None,
    descending: bool,
    start: int,
    count: int,
) -> Page:
    where = true() if condition is None else condition
    if agencies is not None:
        where = and_(where, Agency.id.in_(sorted(agencies)))
    total = session.scalar(select(func.count()).select_from(Agency).where(where)) or 0
    rows: Sequence[Agency] = []
    if count > 0:
        stmt = (
            select(Agency)
            .where(where)
            .order_by(*_order(GROUP_ATTRIBUTES, sort_by, descending, Agency.id))
            .offset(start - 1)
            .limit(count)
        )
        rows = session.scalars(stmt).all()
    return Page(total, rows)


def _member(op: str, value: Any) -> ColumnElement[bool]:
    """``members[value eq "id"]`` / ``members.value eq "id"`` / ``members pr`` on agencies."""
    staff = select(User.id).where(User.agency_id == Agency.id, User.kind == "staff")
    if op == "pr":
        return exists(staff)
    return exists(staff.where(_compare(Attribute(lambda: User.id, fold=False), op, value)))


def members_of(session: Session, agency_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """Staff (id, display name) per agency, for the ``members`` of the Groups asked for."""
    found: dict[int, list[tuple[str, str]]] = {i: [] for i in agency_ids}
    if not agency_ids:
        return found
    stmt = (
        select(User.agency_id, User.id, User.display_name)
        .where(User.agency_id.in_(agency_ids), User.kind == "staff")
        .order_by(User.id)
    )
    for agency_id, user_id, name in session.execute(stmt):
        if agency_id is not None:
            found[agency_id].append((user_id, name))
    return found


def staff_by_ids(session: Session, ids: Sequence[str]) -> Sequence[User]:
    if not ids:
        return []
    return session.scalars(select(User).where(User.id.in_(ids), User.kind == "staff")).all()


def staff_external_id_taken(session: Session, external_id: str, but: str | None) -> bool:
    stmt = select(User.id).where(User.external_id == external_id, User.kind == "staff")
    if but is not None:
        stmt = stmt.where(User.id != but)
    return session.scalar(stmt.limit(1)) is not None


# ------------------------------------------------------------------- provisioning (a create)
# ``POST /Users`` is the bulk path of a staff register (thousands of creates in a row), so it
# is served with two prebuilt statements instead of the ORM's five lookups and unit of work:
# one SELECT answering every question the create asks, then one INSERT (bench/README.md).

_USERS = cast(Table, User.__table__)
_AGENCIES = cast(Table, Agency.__table__)
_NEW_STAFF_CHECKS = select(
    select(_AGENCIES.c.id).where(_AGENCIES.c.code == bindparam("code")).scalar_subquery(),
    exists().where(_USERS.c.external_id == bindparam("external_id"), _USERS.c.kind == "staff"),
    exists().where(_USERS.c.username_normalized == bindparam("username")),
    exists().where(_USERS.c.email_normalized == bindparam("email")),
    exists().where(_USERS.c.nip == bindparam("nip")),
)
_INSERT_USER = insert(_USERS)


@dataclass(frozen=True)
class NewStaffChecks:
    """What a create must know before it inserts: the agency's id (None when the code is
    unknown or none was given) and which unique values are already held."""

    agency_id: int | None
    external_id_taken: bool
    username_taken: bool
    email_taken: bool
    nip_taken: bool


def new_staff_checks(
    session: Session,
    *,
    agency_code: str | None,
    external_id: str | None,
    username: str | None,
    email: str | None,
    nip: str | None,
) -> NewStaffChecks:
    """One round trip: the agency of ``agency_code`` and whether the normalised username,
    email, NIP or a staff member's ``external_id`` is taken (a None value is never taken)."""
    row = (
        session.connection()
        .execute(
            _NEW_STAFF_CHECKS,
            {
                "code": agency_code,
                "external_id": external_id,
                "username": username,
                "email": email,
                "nip": nip,
            },
        )
        .one()
    )
    return NewStaffChecks(row[0], bool(row[1]), bool(row[2]), bool(row[3]), bool(row[4]))


def insert_user(session: Session, values: dict[str, Any]) -> None:
    """One Core INSERT of a ``users`` row in the session's transaction (no read back: the
    caller made every value, id and timestamps included)."""
    session.connection().execute(_INSERT_USER, values)
