"""``/sessions``: live login sessions (everyone's, a person's, or of people whose username
starts with ``username``); end one, which also logs the person out of the apps of that
session by back-channel logout. Admins only (``sessions.manage``), as in the console."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.api.common import Paging, Reader, Writer, iso, no_content, page_response, resource
from sso.core.clock import now
from sso.core.errors import NotFound
from sso.db.models import LoginSession, User
from sso.oidc.backchannel import deliver_soon
from sso.oidc.logout import end_session
from sso.storage import admin_lists, keyset
from sso.storage import directory as dir_repo

router = APIRouter(prefix="/sessions", tags=["sessions"])


class SessionOut(BaseModel):
    id: str
    user_id: str
    username: str | None
    created_at: str
    last_seen_at: str
    expires_at: str
    auth_time: str
    acr: str
    amr: list[str]
    ip: str | None
    user_agent: str | None
    apps: list[str]


class SessionList(BaseModel):
    items: list[SessionOut]


def session_body(
    session: Session, login: LoginSession, apps: list[str] | None = None
) -> dict[str, Any]:
    user = session.get(User, login.user_id)
    if apps is None:
        apps = admin_lists.apps_of_sessions(session, [login.id]).get(login.id, [])
    return {
        "id": login.id,
        "user_id": login.user_id,
        "username": user.username if user else None,
        "created_at": iso(login.created_at),
        "last_seen_at": iso(login.last_seen_at),
        "expires_at": iso(login.expires_at),
        "auth_time": iso(login.auth_time),
        "acr": login.acr,
        "amr": list(login.amr or []),
        "ip": login.ip,
        "user_agent": login.user_agent,
        "apps": apps,
    }


def _live(session: Session, session_id: str) -> LoginSession:
    login = dir_repo.get_session(session, session_id[:36])
    if login is None or login.ended_at is not None or login.expires_at <= now():
        raise NotFound("admin.error.session_unknown")
    return login


@router.get("", response_model=SessionList)
def list_sessions(
    call: Reader,
    paging: Paging,
    user_id: Annotated[str | None, Query(max_length=36, description="One person's.")] = None,
    username: Annotated[
        str, Query(max_length=64, description="People whose username starts with this.")
    ] = "",
) -> Response:
    call.allow("sessions.manage")
    session = call.session
    stmt = select(LoginSession).where(
        LoginSession.ended_at.is_(None), LoginSession.expires_at > now()
    )
    if user_id:
        stmt = stmt.where(LoginSession.user_id == user_id)
    prefix = admin_lists.clean(username).casefold()
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.join(User, User.id == LoginSession.user_id).where(
            func.lower(User.username).like(escaped + "%", escape="\\")
        )
    found = keyset.page(
        session, stmt, LoginSession.id, after=paging.after, before=paging.before, limit=paging.limit
    )
    rows = found.rows
    apps = admin_lists.apps_of_sessions(session, [s.id for s in rows])
    return page_response(
        call.request,
        [session_body(session, s, apps.get(s.id, [])) for s in rows],
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
        more_before=found.more_before,
        more_after=found.more_after,
    )


@router.get("/{session_id}", response_model=SessionOut)
def get_session(call: Reader, session_id: str) -> Response:
    call.allow("sessions.manage")
    return resource(session_body(call.session, _live(call.session, session_id)))


@router.delete("/{session_id}", status_code=204)
def end_one(call: Writer, session_id: str) -> Response:
    """End the session; the apps it signed in to get a back-channel logout."""
    call.allow("sessions.manage")
    deliveries = end_session(
        call.session, _live(call.session, session_id), client_id=None, reason="admin"
    )
    call.commit()
    deliver_soon(call.runtime, deliveries)
    return no_content()
