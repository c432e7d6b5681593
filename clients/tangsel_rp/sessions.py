"""Server-side browser sessions.

The cookie holds only a random value; the database keeps the SHA-256 of it as the row id (a
copy of the table lets nobody take over a session). Rows live in the app's database, so every
worker sees the same sessions and a back-channel logout received by one worker ends the
session for all of them: it deletes the rows whose ``sid`` (or ``sub``) the provider named.

Two kinds of data live in a row:

- ``data``: a small JSON dict for the request cycle (Authlib's ``state`` data, the CSRF token,
  where to go after login, the hotspot device...), exposed as ``request.session``. The
  middleware saves it after each request with an ``UPDATE`` that never re-creates a row a
  logout deleted meanwhile.
- the login (``sub``, ``sid``, claims, tokens): written only at login and by the token refresh,
  never by the generic save, so a slow request cannot put back a rotated refresh token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tangsel_rp.db import RPBase, epoch, transaction


class SessionRecord(RPBase):
    __tablename__ = "rp_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(cookie value)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sub: Mapped[str | None] = mapped_column(String(255), index=True)
    sid: Mapped[str | None] = mapped_column(String(255), index=True)
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    id_token: Mapped[str | None] = mapped_column(Text)
    access_token: Mapped[str | None] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[int | None] = mapped_column(Integer)
    refresh_lock_until: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(Integer, index=True)


@dataclass
class Login:
    """What a successful login stores (and a refresh updates)."""

    sub: str
    sid: str | None
    claims: dict[str, Any]
    id_token: str | None
    access_token: str | None
    refresh_token: str | None
    scope: str | None
    token_expires_at: int | None


def _hash(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


class SessionStore:
    def __init__(self, factory: sessionmaker[Session], lifetime: int) -> None:
        self.factory = factory
        self.lifetime = lifetime

    def load(self, cookie_value: str) -> SessionRecord | None:
        with transaction(self.factory) as db:
            return db.scalar(
                select(SessionRecord).where(
                    SessionRecord.id == _hash(cookie_value), SessionRecord.expires_at > epoch()
                )
            )

    def create(self, data: dict[str, Any], login: Login | None = None) -> str:
        value = secrets.token_urlsafe(32)
        now = epoch()
        row = SessionRecord(
            id=_hash(value), data=data, created_at=now, expires_at=now + self.lifetime
        )
        if login is not None:
            row.sub, row.sid, row.claims = login.sub, login.sid, login.claims
            self._set_tokens(row, login)
        with transaction(self.factory) as db:
            db.add(row)
            if secrets.randbelow(50) == 0:  # now and then, forget expired sessions
                db.execute(delete(SessionRecord).where(SessionRecord.expires_at <= now))
        return value

    @staticmethod
    def _set_tokens(row: SessionRecord, login: Login) -> None:
        row.id_token, row.access_token = login.id_token, login.access_token
        row.refresh_token, row.scope = login.refresh_token, login.scope
        row.token_expires_at = login.token_expires_at

    def save_data(self, row_id: str, data: dict[str, Any]) -> bool:
        """Update ``data`` of a row that still exists; False when it is gone (logged out)."""
        with transaction(self.factory) as db:
            result = db.execute(
                update(SessionRecord).where(SessionRecord.id == row_id).values(data=data)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def delete(self, row_id: str) -> None:
        with transaction(self.factory) as db:
            db.execute(delete(SessionRecord).where(SessionRecord.id == row_id))

    def end_for(self, *, sid: str | None = None, sub: str | None = None) -> list[str]:
        """End the sessions of one provider session (``sid``) or of one person (``sub``);
        returns the refresh tokens they held, for the caller to revoke."""
        if sid is None and sub is None:
            return []
        condition = []
        if sid is not None:
            condition.append(SessionRecord.sid == sid)
        if sub is not None:
            condition.append(SessionRecord.sub == sub)
        with transaction(self.factory) as db:
            tokens = db.scalars(select(SessionRecord.refresh_token).where(*condition)).all()
            db.execute(delete(SessionRecord).where(*condition))
        return [t for t in tokens if t]

    def lock_refresh(self, row_id: str, seconds: int = 30) -> bool:
        """Only one request (in any worker) refreshes a session's tokens at a time: a refresh
        token rotates, and presenting the old one twice would revoke the whole grant."""
        now = epoch()
        with transaction(self.factory) as db:
            result = db.execute(
                update(SessionRecord)
                .where(
                    SessionRecord.id == row_id,
                    (SessionRecord.refresh_lock_until.is_(None))
                    | (SessionRecord.refresh_lock_until < now),
                )
                .values(refresh_lock_until=now + seconds)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def store_refresh(self, row_id: str, login: Login | None) -> None:
        """Save refreshed tokens (and claims) and release the lock; ``None`` just unlocks."""
        values: dict[str, Any] = {"refresh_lock_until": None}
        if login is not None:
            values.update(
                claims=login.claims,
                id_token=login.id_token,
                access_token=login.access_token,
                refresh_token=login.refresh_token,
                scope=login.scope,
                token_expires_at=login.token_expires_at,
            )
        with transaction(self.factory) as db:
            db.execute(update(SessionRecord).where(SessionRecord.id == row_id).values(**values))

    def get(self, row_id: str) -> SessionRecord | None:
        with transaction(self.factory) as db:
            return db.get(SessionRecord, row_id)


@dataclass
class SessionState:
    """The session of one request: ``scope["session"]`` (a dict) plus the login, if any."""

    record: SessionRecord | None
    data: dict[str, Any]
    original: str
    regenerate: bool = False
    login: Login | None = field(default=None)

    @property
    def row_id(self) -> str | None:
        return self.record.id if self.record is not None else None

    def start_login(self, login: Login) -> None:
        """A new session id at login (no session fixation); the old row is deleted."""
        self.login = login
        self.regenerate = True

    def end(self) -> None:
        """Forget everything (local logout); a fresh anonymous row is made only if needed."""
        self.data.clear()
        self.login = None
        self.regenerate = True


def session_state(conn: HTTPConnection) -> SessionState:
    state: SessionState = conn.scope["rp_session"]
    return state


class ServerSessionMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        store: SessionStore,
        *,
        cookie_name: str,
        secure: bool,
    ) -> None:
        self.app = app
        self.store = store
        self.cookie_name = cookie_name
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = HTTPConnection(scope).cookies.get(self.cookie_name)
        record = await run_in_threadpool(self.store.load, cookie) if cookie else None
        data = dict(record.data or {}) if record is not None else {}
        state = SessionState(record, data, json.dumps(data, sort_keys=True))
        scope["session"] = state.data
        scope["rp_session"] = state

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie_header = await run_in_threadpool(self._persist, state, bool(cookie))
                if cookie_header:
                    MutableHeaders(scope=message).append("set-cookie", cookie_header)
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _persist(self, state: SessionState, had_cookie: bool) -> str | None:
        changed = json.dumps(state.data, sort_keys=True) != state.original
        if state.regenerate:
            if state.record is not None:
                self.store.delete(state.record.id)
            if state.login is not None or state.data:
                return self._cookie(self.store.create(state.data, state.login))
            return self._cookie("", expire=True) if had_cookie else None
        if not changed:
            return None
        if state.record is not None:
            self.store.save_data(state.record.id, state.data)
            return None
        if state.data:
            return self._cookie(self.store.create(state.data))
        return None

    def _cookie(self, value: str, *, expire: bool = False) -> str:
        parts = [f"{self.cookie_name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        parts.append("Max-Age=0" if expire else f"Max-Age={self.store.lifetime}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)
