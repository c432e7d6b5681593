"""FastAPI dependencies: the runtime (also :func:`runtime_of` for a plain call), a database
session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from sso.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async: it only reads app.state, so it need not hop to the thread pool (bench/README.md)
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def runtime_of(conn: HTTPConnection) -> Runtime:
    """The application's runtime, for code that has the request but is no route parameter (a
    plain call: no dependency solving on paths that count it)."""
    runtime: Runtime = conn.app.state.runtime
    return runtime


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One session per request. Routes commit before responding; anything not committed is
    rolled back here."""
    session = runtime.sessions()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
