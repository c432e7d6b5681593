"""Devices without a usable browser (smart TVs, kiosks): the OAuth 2.0 Device Authorization
Grant (RFC 8628) on behalf of the device.

The TV opens ``/device?location=<id>&mac=<MAC>`` (the same values the access point sends to the
captive portal) and presses the button, or its software posts to ``/device/start``: the portal
asks the provider for a user code and shows it with the verification URI (and a link with the
code in it). The person enters the code on their phone at the provider, logs in and approves.
Meanwhile the portal polls the provider's token endpoint server-side, every ``interval`` seconds
(5 s more after each ``slow_down``), and stops at approval, denial or expiry. When tokens come,
the ID token is validated and an access session is recorded for the TV's MAC at that location
with the person's daily quota, exactly as the browser login's **Connect** does; the gateway
decision API then allows the TV.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from tangsel_rp.app import Toolkit
from tangsel_rp.db import transaction
from tangsel_rp.device import SLOW_DOWN_STEP, DeviceFlow, DeviceFlowError
from tangsel_rp.web import PageError

from hotspot import service
from hotspot.models import AccessSession, DeviceLogin, Location
from hotspot.settings import HotspotSettings

log = logging.getLogger("hotspot.device")

FINAL = ("connected", "denied", "expired", "quota_used", "error")


@dataclass(frozen=True)
class DeviceView:
    id: str
    mac: str
    location_code: str
    location_name: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: int
    expires_at: int
    status: str
    session_expires_at: int | None


class DeviceLogins:
    """Starts device logins and runs one polling task per pending login (in the app's event
    loop). A task lost with a restart is started again when the device's page is next asked."""

    def __init__(self, app: FastAPI, kit: Toolkit, settings: HotspotSettings) -> None:
        self.app = app
        self.kit = kit
        self.settings = settings
        self.flow = DeviceFlow(settings, kit.rp.discovery, kit.rp.jwks)
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def _now(self) -> int:
        return int(self.app.state.clock())

    # -- starting --------------------------------------------------------------------------

    def check_device(self, location: str, mac: str) -> tuple[str, str, str]:
        device = service.normalise_mac(mac)
        if device is None:
            raise PageError("portal.bad_device", 400)
        with transaction(self.kit.sessions) as db:
            place = db.get(Location, location) if service.valid_location_code(location) else None
            if place is None:
                raise PageError("portal.unknown_location", 404)
            return device, place.code, place.name

    def start(self, location: str, mac: str) -> str:
        device, code, _ = self.check_device(location, mac)
        try:
            started = self.flow.start(self.settings.device_scope)
        except DeviceFlowError as exc:
            log.warning("device authorization refused: %s", exc)
            if exc.code == "provider_unavailable":
                raise PageError("error.provider_unavailable", 503) from None
            raise PageError("device.start_failed", 502) from None
        login_id = secrets.token_urlsafe(24)
        now = int(time.time())
        with transaction(self.kit.sessions) as db:
            db.add(
                DeviceLogin(
                    id=login_id,
                    mac=device,
                    location_code=code,
                    device_code=started.device_code,
                    user_code=started.user_code,
                    verification_uri=started.verification_uri,
                    verification_uri_complete=started.verification_uri_complete,
                    interval=started.interval,
                    created_at=now,
                    expires_at=now + started.expires_in,
                    status="pending",
                )
            )
        return login_id

    def view(self, login_id: str) -> DeviceView | None:
        with transaction(self.kit.sessions) as db:
            row = db.get(DeviceLogin, login_id) if len(login_id) <= 64 else None
            if row is None:
                return None
            if row.status == "pending" and time.time() >= row.expires_at:
                row.status = "expired"
            place = db.get(Location, row.location_code)
            session = db.get(AccessSession, row.session_id) if row.session_id else None
            return DeviceView(
                id=row.id,
                mac=row.mac,
                location_code=row.location_code,
                location_name=place.name if place else row.location_code,
                user_code=row.user_code,
                verification_uri=row.verification_uri,
                verification_uri_complete=row.verification_uri_complete,
                interval=row.interval,
                expires_at=row.expires_at,
                status=row.status,
                session_expires_at=session.end() if session else None,
            )

    # -- polling -----------------------------------------------------------------------------

    def ensure_polling(self, login_id: str) -> None:
        """Start the polling task of a pending login unless it runs already (call from the
        event loop)."""
        task = self.tasks.get(login_id)
        if task is None or task.done():
            self.tasks[login_id] = asyncio.get_running_loop().create_task(self._run(login_id))

    async def _run(self, login_id: str) -> None:
        try:
            while await self._poll_once(login_id):
                pass
        except asyncio.CancelledError:
            raise
        except Exception:  # never let a task die silently with the login pending
            log.exception("device login %s: polling failed", login_id)
            await run_in_threadpool(self._finish, login_id, "error")
        finally:
            self.tasks.pop(login_id, None)

    def _pending(self, login_id: str) -> tuple[str, int, int] | None:
        with transaction(self.kit.sessions) as db:
            row = db.get(DeviceLogin, login_id)
            if row is None or row.status != "pending":
                return None
            return row.device_code, row.interval, row.expires_at

    async def _poll_once(self, login_id: str) -> bool:
        """Wait ``interval``, ask /token once; True while the login is still pending."""
        pending = await run_in_threadpool(self._pending, login_id)
        if pending is None:
            return False
        device_code, interval, expires_at = pending
        await asyncio.sleep(interval)
        if time.time() >= expires_at:
            await run_in_threadpool(self._finish, login_id, "expired")
            return False
        result = await run_in_threadpool(self.flow.poll, device_code)
        if result.outcome == "pending":
            return True
        if result.outcome == "slow_down":
            await run_in_threadpool(self._slow_down, login_id)
            return True
        if result.outcome == "tokens":
            refresh = await run_in_threadpool(self._complete, login_id, result.tokens)
            if refresh:  # the portal needs no refresh token: give it back
                await self.kit.rp.revoke_refresh_tokens([refresh])
            return False
        log.info("device login %s ended: %s", login_id, result.error)
        status = result.outcome if result.outcome in ("denied", "expired") else "error"
        await run_in_threadpool(self._finish, login_id, status)
        return False

    def _slow_down(self, login_id: str) -> None:
        with transaction(self.kit.sessions) as db:
            row = db.get(DeviceLogin, login_id)
            if row is not None:
                row.interval += SLOW_DOWN_STEP

    def _finish(self, login_id: str, status: str) -> None:
        with transaction(self.kit.sessions) as db:
            row = db.get(DeviceLogin, login_id)
            if row is not None and row.status == "pending":
                row.status = status

    def _complete(self, login_id: str, tokens: dict[str, Any]) -> str | None:
        """Validate the ID token and connect the device; returns a refresh token to revoke."""
        refresh = tokens.get("refresh_token")
        id_token = tokens.get("id_token")
        try:
            if not isinstance(id_token, str):
                raise DeviceFlowError("invalid_response", "no ID token")
            claims = self.flow.validate_id_token(id_token)
        except DeviceFlowError as exc:
            log.warning("device login %s: %s", login_id, exc)
            self._finish(login_id, "error")
            return refresh if isinstance(refresh, str) else None
        settings = self.settings
        try:
            with transaction(self.kit.sessions) as db:
                row = db.get(DeviceLogin, login_id)
                if row is None or row.status != "pending":
                    return refresh if isinstance(refresh, str) else None
                session = service.connect(
                    db,
                    claims["sub"],
                    row.mac,
                    row.location_code,
                    self._now(),
                    settings.daily_quota,
                    settings.timezone,
                )
                row.status, row.user_sub, row.session_id = "connected", claims["sub"], session.id
        except service.HotspotError as exc:
            status = "quota_used" if exc.key == "portal.quota_used" else "error"
            with transaction(self.kit.sessions) as db:
                row = db.get(DeviceLogin, login_id)
                if row is not None:
                    row.status, row.user_sub = status, claims["sub"]
        return refresh if isinstance(refresh, str) else None

    async def shutdown(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        for task in list(self.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def install(app: FastAPI, kit: Toolkit, settings: HotspotSettings) -> DeviceLogins:
    """The device routes: ``GET /device`` (the TV's page), ``POST /device/start``,
    ``GET /device/{id}`` (code, then result; refreshes itself) and ``GET /api/device/{id}``."""
    logins = DeviceLogins(app, kit, settings)
    app.state.device_logins = logins
    app.router.on_shutdown.append(logins.shutdown)
    web = kit.web

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    @app.get("/device")
    async def device_landing(request: Request, location: str = "", mac: str = "") -> Response:
        device, code, name = await run_in_threadpool(logins.check_device, location, mac)
        return web.render(
            request,
            "device_start.html",
            {"mac": device, "location": code, "location_name": name},
        )

    # No CSRF token here: a TV's browser may not keep cookies, and starting a device login
    # grants nothing by itself (the person still has to enter the code and approve it).
    @app.post("/device/start")
    async def device_start(
        request: Request,
        location: Annotated[str, Form()] = "",
        mac: Annotated[str, Form()] = "",
    ) -> Response:
        login_id = await run_in_threadpool(logins.start, location, mac)
        logins.ensure_polling(login_id)
        if wants_json(request):
            view = await run_in_threadpool(logins.view, login_id)
            return JSONResponse(as_json(view), status_code=201)  # type: ignore[arg-type]
        return RedirectResponse(f"/device/{login_id}", 303)

    @app.get("/device/{login_id}")
    async def device_page(request: Request, login_id: str) -> Response:
        view = await run_in_threadpool(logins.view, login_id)
        if view is None:
            raise PageError("device.unknown", 404)
        if view.status == "pending":
            logins.ensure_polling(login_id)
        now = int(app.state.clock())
        left = (view.session_expires_at or now) - now
        minutes = (max(left, 0) + 59) // 60
        return web.render(
            request,
            "device.html",
            {
                "login": view,
                "left": web.gettext(request, "duration", h=minutes // 60, m=minutes % 60),
            },
            headers={
                "Cache-Control": "no-store",
                # The TV's page asks again by itself while it waits (no JavaScript needed).
                **({"Refresh": str(view.interval)} if view.status == "pending" else {}),
            },
        )

    @app.get("/api/device/{login_id}")
    async def device_api(login_id: str) -> Response:
        view = await run_in_threadpool(logins.view, login_id)
        if view is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        if view.status == "pending":
            logins.ensure_polling(login_id)
        return JSONResponse(as_json(view), headers={"Cache-Control": "no-store"})

    def as_json(view: DeviceView) -> dict[str, Any]:
        return {
            "id": view.id,
            "status": view.status,
            "mac": view.mac,
            "location": view.location_code,
            "user_code": view.user_code,
            "verification_uri": view.verification_uri,
            "verification_uri_complete": view.verification_uri_complete,
            "interval": view.interval,
            "expires_at": view.expires_at,
            "session_expires_at": view.session_expires_at,
            "status_url": settings.url(f"/api/device/{view.id}"),
        }

    return logins
