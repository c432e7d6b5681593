"""The consoles' searched and paged lists: clients, app roles, live login sessions,
registration tokens and signing keys (admin console) and a developer's own apps (portal).

Paging is by page number (``offset``), reading one row more than a page to know whether a next
page exists: these lists are small (clients, roles) or bounded by live sessions, so an offset
costs little, and a page number lets the admin go both ways and come back to the same page.
Searches are case-insensitive prefix or substring matches on a few short columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import (
    Client,
    InitialAccessToken,
    LoginSession,
    Role,
    RoleAssignment,
    SessionClient,
    SigningKey,
    User,
)

T = TypeVar("T")
MAX_QUERY = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    number: int  # 1-based
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (its own % and _ taken literally)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def clean(text: str) -> str:
    """A search text without control characters (PostgreSQL refuses a NUL), cut short."""
    return "".join(c for c in text if c.isprintable()).strip()[:MAX_QUERY]


def _page(session: Session, stmt: Any, number: int, size: int) -> tuple[list[Any], bool]:
    """Rows of page ``number`` of ``stmt`` (a Select of any shape) and whether more follow."""
    number = max(1, min(number, 100_000))
    found = list(session.execute(stmt.offset((number - 1) * size).limit(size + 1)).all())
    return found[:size], len(found) > size


# ---------------------------------------------------------------------------- clients


def clients(
    session: Session, *, query: str = "", status: str | None = None, number: int = 1, size: int = 25
) -> Page[Client]:
    """Clients whose name or client_id contains ``query`` (any case), oldest first."""
    stmt = select(Client)
    query = clean(query).casefold()
    if query:
        pattern = _like(query)
        stmt = stmt.where(
            or_(
                func.lower(Client.name).like(pattern, escape="\\"),
                func.lower(Client.client_id).like(pattern, escape="\\"),
            )
        )
    if status:
        stmt = stmt.where(Client.status == status)
    rows, more = _page(session, stmt.order_by(Client.created_at, Client.id), number, size)
    return Page([r[0] for r in rows], max(1, number), more)


def app_roles_of_client(session: Session, client_pk: int) -> list[tuple[Role, int]]:
    """The client's app roles with the number of their assignments, by name."""
    stmt = (
        select(Role, func.count(RoleAssignment.id))
        .outerjoin(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(Role.client_id == client_pk)
        .group_by(Role.id)
        .order_by(Role.name)
    )
    return [(role, int(n)) for role, n in session.execute(stmt).all()]


# ---------------------------------------------------------------------------- roles


def global_roles(session: Session, names: Sequence[str]) -> dict[str, tuple[Role, int]]:
    """The global roles named ``names`` that exist, with their assignment counts."""
    stmt = (
        select(Role, func.count(RoleAssignment.id))
        .outerjoin(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(Role.client_id.is_(None), Role.name.in_(list(names)))
        .group_by(Role.id)
    )
    return {role.name: (role, int(n)) for role, n in session.execute(stmt).all()}


def app_roles(
    session: Session,
    *,
    query: str = "",
    exclude: Sequence[str] = (),
    number: int = 1,
    size: int = 25,
) -> Page[tuple[Role, int, Client | None]]:
    """Roles other than the built-in ones (``exclude``, global names), with the number of
    their assignments and their client; ``query`` matches the role's name, description or
    client's name."""
    stmt = (
        select(Role, func.count(RoleAssignment.id), Client)
        .outerjoin(RoleAssignment, RoleAssignment.role_id == Role.id)
        .outerjoin(Client, Client.id == Role.client_id)
        .where(or_(Role.client_id.is_not(None), Role.name.not_in(list(exclude))))
        .group_by(Role.id, Client.id)
    )
    query = clean(query).casefold()
    if query:
        pattern = _like(query)
        stmt = stmt.where(
            or_(
                func.lower(Role.name).like(pattern, escape="\\"),
                func.lower(Role.description).like(pattern, escape="\\"),
                func.lower(Client.name).like(pattern, escape="\\"),
            )
        )
    stmt = stmt.order_by(Role.client_id.is_not(None), Client.name, Role.name, Role.id)
    rows, more = _page(session, stmt, number, size)
    return Page([(r[0], int(r[1]), r[2]) for r in rows], max(1, number), more)


# ---------------------------------------------------------------------------- sessions


def live_sessions(
    session: Session,
    *,
    username: str = "",
    user_id: str | None = None,
    number: int = 1,
    size: int = 50,
) -> Page[tuple[LoginSession, User]]:
    """Live sessions, newest login first: everyone's, of people whose username starts with
    ``username`` (any case), or of one person."""
    stmt = (
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.ended_at.is_(None), LoginSession.expires_at > now())
    )
    username = clean(username).casefold()
    if username:
        stmt = stmt.where(
            func.lower(User.username).like(_like(username)[1:], escape="\\")
        )  # a prefix: no leading %
    if user_id is not None:
        stmt = stmt.where(LoginSession.user_id == user_id)
    stmt = stmt.order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
    rows, more = _page(session, stmt, number, size)
    return Page([(r[0], r[1]) for r in rows], max(1, number), more)


def apps_of_sessions(session: Session, session_ids: Sequence[str]) -> dict[str, list[str]]:
    """For each session, the names of the clients it signed in to (client_id when the client
    is gone), oldest first."""
    if not session_ids:
        return {}
    stmt = (
        select(SessionClient.session_id, SessionClient.client_id, Client.name)
        .outerjoin(Client, Client.client_id == SessionClient.client_id)
        .where(SessionClient.session_id.in_(list(session_ids)))
        .order_by(SessionClient.created_at, SessionClient.client_id)
    )
    found: dict[str, list[str]] = {}
    for session_id, client_id, name in session.execute(stmt).all():
        found.setdefault(session_id, []).append(name or client_id)
    return found


# ---------------------------------------------------------------------------- more lists


def owned_clients(
    session: Session, owner_id: str, *, query: str = "", number: int = 1, size: int = 25
) -> Page[Client]:
    """The apps of ``owner_id`` (the developer portal) whose name or client_id contains
    ``query``, newest first."""
    stmt = select(Client).where(Client.owner_id == owner_id)
    query = clean(query).casefold()
    if query:
        pattern = _like(query)
        stmt = stmt.where(
            or_(
                func.lower(Client.name).like(pattern, escape="\\"),
                func.lower(Client.client_id).like(pattern, escape="\\"),
            )
        )
    rows, more = _page(
        session, stmt.order_by(Client.created_at.desc(), Client.id.desc()), number, size
    )
    return Page([r[0] for r in rows], max(1, number), more)


TOKEN_STATES = ("usable", "revoked", "expired")


def registration_tokens(
    session: Session, *, query: str = "", state: str | None = None, number: int = 1, size: int = 25
) -> Page[InitialAccessToken]:
    """Initial access tokens whose description contains ``query`` (or whose number is it),
    newest first; ``state``: one of TOKEN_STATES ("usable": neither revoked nor expired; one
    may still have no uses left, which the page says)."""
    stmt = select(InitialAccessToken)
    query = clean(query).casefold().lstrip("#")
    if query:
        match = func.lower(InitialAccessToken.description).like(_like(query), escape="\\")
        stmt = stmt.where(
            or_(match, InitialAccessToken.id == int(query))
            if query.isdigit() and len(query) < 10
            else match
        )
    at = now()
    if state == "revoked":
        stmt = stmt.where(InitialAccessToken.revoked_at.is_not(None))
    elif state == "expired":
        stmt = stmt.where(
            InitialAccessToken.revoked_at.is_(None), InitialAccessToken.expires_at <= at
        )
    elif state == "usable":
        stmt = stmt.where(
            InitialAccessToken.revoked_at.is_(None),
            or_(InitialAccessToken.expires_at.is_(None), InitialAccessToken.expires_at > at),
        )
    rows, more = _page(session, stmt.order_by(InitialAccessToken.id.desc()), number, size)
    return Page([r[0] for r in rows], max(1, number), more)


def signing_keys(
    session: Session, *, query: str = "", state: str | None = None, number: int = 1, size: int = 25
) -> Page[SigningKey]:
    """Signing keys whose kid or alg contains ``query``, in ``state`` when given; by alg, then
    oldest first (the order of the key set)."""
    stmt = select(SigningKey)
    query = clean(query).casefold()
    if query:
        pattern = _like(query)
        stmt = stmt.where(
            or_(
                func.lower(SigningKey.kid).like(pattern, escape="\\"),
                func.lower(SigningKey.alg).like(pattern, escape="\\"),
            )
        )
    if state:
        stmt = stmt.where(SigningKey.state == state)
    stmt = stmt.order_by(SigningKey.alg, SigningKey.created_at, SigningKey.kid)
    rows, more = _page(session, stmt.execution_options(populate_existing=True), number, size)
    return Page([r[0] for r in rows], max(1, number), more)
