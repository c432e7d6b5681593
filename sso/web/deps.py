"""FastAPI dependencies: the application's runtime (also :func:`runtime_of` for a plain call), a
database session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from sso.web.app_runtime import AppRuntime


def runtime_of(conn: HTTPConnection) -> AppRuntime:
    """The application's runtime (``create_app`` puts it in ``app.state``): the one accessor,
    for routes, pages and services of the web layers alike. A plain call, so a path that
    counts its cost solves no dependency for it (bench/README.md)."""
    runtime: AppRuntime = conn.app.state.runtime
    return runtime


def runtime_in(app: object) -> AppRuntime | None:
    """The runtime of an ASGI application, or None for one built without it (middleware
    around a bare application in tests): for code that has the scope, not a request."""
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    return runtime if isinstance(runtime, AppRuntime) else None


async def get_runtime(request: Request) -> AppRuntime:
    # async: it only reads app.state, so it need not hop to the thread pool (bench/README.md)
    return runtime_of(request)


RuntimeDep = Annotated[AppRuntime, Depends(get_runtime)]


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
