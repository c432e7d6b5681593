"""A per-process cache of client metadata for the token, introspection and revocation endpoints.

Every token request authenticates a client; reading its row each time was one query and the
ORM loading of ~35 columns per request (bench/README.md §2). Here a worker keeps each active
client it has seen as a row attached to no session, and trusts the copy for ``ttl`` seconds.

Correctness across workers and hosts, without asking anything of the code that changes
clients (admin console, developer portal, dynamic registration, ``sso clients …``, even SQL
typed by an operator): **a short lifetime plus a version check**, not Redis pub/sub.

- After ``ttl`` (2 s) the next request revalidates its copy with one indexed query of four
  columns, ``(version, updated_at, status, client_secret_hash)``: any update SQLAlchemy
  writes changes the first two (the ORM bumps ``version``, ``updated_at`` has an ``onupdate``),
  and the last two are compared too, so even an operator's plain ``UPDATE clients SET
  status = 'disabled'`` is seen. A different stamp means the row is read again, so a disabled
  client or a rotated secret stops working on every worker of every host within ``ttl``
  seconds.
- In the process that made the change the copy is dropped at once: every commit that changed
  a client bumps ``sso.storage.clients.change_generation`` and the cache empties itself.
- Pub/sub was the alternative: sub-second everywhere, but only if every writer publishes
  (the CLI and SQL would not), with a listener thread per worker, and a lost message or a
  Redis outage would still need a lifetime to bound the damage. A 2 s bound costs one tiny
  query per client per worker every 2 s and has no failure mode of its own.

Only clients that exist are cached (unknown ``client_id`` values are not, so guessing cannot
fill memory); at most ``max_entries`` are kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from sso.db.models import Client
from sso.storage import clients as client_repo

DEFAULT_TTL = 2.0
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    client: Client
    stamp: client_repo.Stamp
    checked_at: float


class ClientCache:
    """Read-only client rows by ``client_id``: :meth:`get` (one per process and runtime)."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock  # seconds, monotonic (tests move it by hand)
        self._entries: dict[str, _Entry] = {}
        self._generation = client_repo.change_generation()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries = {}

    def get(self, session: Session, client_id: str) -> Client | None:
        """The client (any status: the caller checks it), or None when unknown.

        The row must be treated as read-only: it is shared by every request of the process.
        """
        generation = client_repo.change_generation()
        if generation != self._generation:
            with self._lock:
                self._entries = {}
                self._generation = generation
        entry = self._entries.get(client_id)
        started = self.clock()
        if entry is not None:
            if started - entry.checked_at < self.ttl:
                return entry.client
            if client_repo.stamp(session, client_id) == entry.stamp:
                self._put(client_id, _Entry(entry.client, entry.stamp, started), generation)
                return entry.client
        client = client_repo.load_client(session, client_id)
        if client is not None:
            self._put(client_id, _Entry(client, client_repo.stamp_of(client), started), generation)
        else:
            self._entries.pop(client_id, None)
        return client

    def _put(self, client_id: str, entry: _Entry, generation: int) -> None:
        with self._lock:
            # A client changed in this process while we read: the copy may predate it.
            if generation != client_repo.change_generation():
                return
            if client_id not in self._entries and len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[client_id] = entry
