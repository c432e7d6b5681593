"""Watch a runtime's engine for a request that holds two connections at once.

A second session beside the request's own takes a second pool connection (on PostgreSQL a
pool deadlock under load) and, on SQLite, waits for the write lock the first one holds. The
watch counts the connections each thread has checked out; the second one in a thread is
refused at once (so a regression fails fast instead of waiting out SQLite's busy timeout) and
remembered for the assertion."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


class SecondConnection(Exception):
    """A thread asked for a connection while it held one."""


class ConnectionWatch:
    def __init__(self) -> None:
        self.held: dict[int, int] = {}
        self.most = 0
        self._lock = threading.Lock()

    def checkout(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        me = threading.get_ident()
        with self._lock:
            self.held[me] = self.held.get(me, 0) + 1
            self.most = max(self.most, self.held[me])
            record.info["watch_thread"] = me
            if self.held[me] > 1:
                self.held[me] -= 1
                record.info.pop("watch_thread")
                raise SecondConnection("a second connection while one is held")

    def checkin(self, _dbapi: Any, record: Any) -> None:
        owner = record.info.pop("watch_thread", None)
        if owner is not None:
            with self._lock:
                self.held[owner] -= 1


@contextmanager
def one_connection_per_thread(engine: Engine) -> Iterator[ConnectionWatch]:
    watch = ConnectionWatch()
    event.listen(engine, "checkout", watch.checkout)
    event.listen(engine, "checkin", watch.checkin)
    try:
        yield watch
    finally:
        event.remove(engine, "checkout", watch.checkout)
        event.remove(engine, "checkin", watch.checkin)
