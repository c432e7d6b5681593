"""OAuth clients repository, and the change signal that keeps client caches honest.

:func:`get_by_client_id` returns the ORM row. A service changes it only through the functions
of this module (:func:`update_client` for the registration fields, and one function each for
the status, the review, the in-development mark, the secret, the registration access token,
the Admin API agency, and deletion): each makes the change, flushes, and marks the session so
that its commit invalidates the client caches. The token endpoint reads
clients through a per-process cache instead (``sso.oauth.client_cache``), which uses
:func:`load_client` (one Core SELECT, a row attached to no session) and :func:`stamp` (the
row's version and the fields that matter most, to revalidate a cached copy with one tiny query).

As a safety net for changes made any other way, every change of a client row made through a
session of this process (a flushed ORM change, an ORM bulk UPDATE/DELETE, a Core UPDATE/DELETE
of the clients table; any caller: a test, an operator's script) bumps :func:`change_generation` when its
transaction commits, without the caller doing anything, so caches
in the same process drop their copies at once; other processes and hosts see the change when
their copy's short lifetime ends and the version check finds a new ``(version, updated_at)``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict, Unpack, cast

from sqlalchemy import Table, bindparam, event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from sso.core.clock import now
from sso.db.models import Client

_CHANGED = "sso.clients_changed"
_table = cast(Table, Client.__table__)
_select_client = select(*_table.columns).where(_table.c.client_id == bindparam("client_id"))
_select_stamp = select(
    _table.c.version, _table.c.updated_at, _table.c.status, _table.c.client_secret_hash
).where(_table.c.client_id == bindparam("client_id"))
_generation = 0
_generation_lock = threading.Lock()


def get_by_client_id(session: Session, client_id: str) -> Client | None:
    return session.scalar(select(Client).where(Client.client_id == client_id))


def list_all(session: Session) -> Sequence[Client]:
    return session.scalars(select(Client).order_by(Client.created_at, Client.id)).all()


def limited_to(session: Session, agency_id: int) -> Sequence[Client]:
    """Machine clients of the Admin API limited to this agency (``admin_agency_id``)."""
    return session.scalars(
        select(Client).where(Client.admin_agency_id == agency_id).order_by(Client.id)
    ).all()


def add(session: Session, client: Client) -> Client:
    session.add(client)
    session.flush()
    return client


# ---------------------------------------------------------------------------- changes


class ClientChanges(TypedDict, total=False):
    """The registration fields of a client that its owners change (admin console, developer
    portal, Dynamic Client Registration, configuration as code, the console client itself)."""

    name: str
    description: str
    app_kind: str | None
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scope: str
    token_endpoint_auth_method: str
    id_token_signed_response_alg: str | None
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    backchannel_logout_uri: str | None
    backchannel_logout_session_required: bool
    logo_uri: str | None
    client_uri: str | None
    policy_uri: str | None
    tos_uri: str | None
    contacts: list[str] | None
    trusted: bool
    access_token_lifetime: int | None
    refresh_token_lifetime: int | None


CHANGEABLE = frozenset(ClientChanges.__optional_keys__)


def _changed(session: Session) -> None:
    """Write the change now and drop cached copies of clients in this process (at once, and
    again when the transaction commits: a copy read meanwhile may predate the change)."""
    session.flush()
    _touched(session)


def update_client(session: Session, client: Client, **changes: Unpack[ClientChanges]) -> list[str]:
    """Set the fields ``changes`` names; returns the names of those whose value changed, in the
    order given (nothing is written when none did)."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise TypeError(f"not a changeable client field: {sorted(unknown)}")
    changed = [k for k, v in changes.items() if getattr(client, k) != v]
    for key in changed:
        setattr(client, key, changes[key])  # type: ignore[literal-required]
    if changed:
        _changed(session)
    return changed


def set_status(session: Session, client: Client, status: str) -> None:
    """``active``, ``disabled``, ``pending`` or ``rejected``: only an active client logs anyone
    in or gets a token."""
    client.status = status
    _changed(session)


def record_review(
    session: Session, client: Client, *, status: str, reviewed_by_id: str | None, note: str | None
) -> None:
    """An admin's decision on a developer's app: its new status, who decided, when, and why."""
    client.status = status
    client.reviewed_by_id = reviewed_by_id
    client.reviewed_at = now()
    client.review_note = note
    _changed(session)


def set_in_development(session: Session, client: Client, flag: bool) -> None:
    client.in_development = flag
    _changed(session)


def set_secret_hash(session: Session, client: Client, secret_hash: str | None) -> None:
    """A new secret's keyed hash (the old secret stops working at once), or None: no secret."""
    client.client_secret_hash = secret_hash
    if secret_hash is not None:
        client.secret_rotated_at = now()
    _changed(session)


def set_registration_token_hash(session: Session, client: Client, token_hash: str) -> None:
    """The keyed hash of the client's RFC 7592 registration access token."""
    client.registration_access_token_hash = token_hash
    _changed(session)


def set_admin_agency(session: Session, client: Client, agency_id: int | None) -> None:
    """Limit a machine client of the Admin API to an agency's subtree (None: no limit)."""
    client.admin_agency_id = agency_id
    _changed(session)


def delete(session: Session, client: Client) -> None:
    session.delete(client)
    _changed(session)


# ---------------------------------------------------------------------------- cache support


def load_client(session: Session, client_id: str) -> Client | None:
    """The client as a new row object attached to no session (safe to share read-only
    between threads), read with one Core SELECT; None when unknown."""
    row = session.connection().execute(_select_client, {"client_id": client_id}).first()
    if row is None:
        return None
    return Client(**row._asdict())


Stamp = tuple[int, datetime, str, str | None]


def stamp_of(client: Client) -> Stamp:
    return (client.version, client.updated_at, client.status, client.client_secret_hash)


def stamp(session: Session, client_id: str) -> Stamp | None:
    """``(version, updated_at, status, client_secret_hash)`` of a client: the first two change
    with every update SQLAlchemy writes; the last two are what must never be served stale,
    compared as well in case an operator changed them with plain SQL."""
    row = session.connection().execute(_select_stamp, {"client_id": client_id}).first()
    return None if row is None else (int(row[0]), row[1], row[2], row[3])


def change_generation() -> int:
    """A counter bumped whenever a transaction of this process that changed a client commits."""
    return _generation


def _bump() -> None:
    global _generation
    with _generation_lock:
        _generation += 1


def _touched(session: Session) -> None:
    session.info[_CHANGED] = True
    _bump()  # also at once: a cache must not keep a copy read while the change is in flight


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Client):
            _touched(session)
            return


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    # Bulk UPDATE/DELETE through a session: of the mapped class, or Core on the clients table.
    if (state.is_update or state.is_delete) and (
        state.bind_mapper is Client.__mapper__ or getattr(state.statement, "table", None) is _table
    ):
        _touched(state.session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _bump()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
