"""OAuth clients repository, and the change signal that keeps client caches honest.

:func:`get_by_client_id` returns the ORM row, for code that changes it. The token endpoint reads
clients through a per-process cache instead (``sso.oauth.client_cache``), which uses
:func:`load_client` (one Core SELECT, a row attached to no session) and :func:`stamp` (the
row's version and the fields that matter most, to revalidate a cached copy with one tiny query).

Every change of a client row made through a session of this process (a flushed ORM change,
an ORM bulk UPDATE/DELETE, a Core UPDATE/DELETE of the clients table; any caller: the admin
console, the developer portal, the CLI, a test) bumps :func:`change_generation` when its
transaction commits, without the caller doing anything, so caches
in the same process drop their copies at once; other processes and hosts see the change when
their copy's short lifetime ends and the version check finds a new ``(version, updated_at)``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

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
