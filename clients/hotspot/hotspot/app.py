"""The captive portal: ``create_app(settings)`` builds it (``python -m hotspot`` serves it).

The access point redirects a new device to ``/?location=<id>&mac=<device MAC>&url=<where
it was going>`` (the query names most hotspot gateways can be configured to send). The portal
keeps the device in the browser session while the person logs in, then lets them connect.
"""

import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, Header, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from tangsel_rp.app import build_app
from tangsel_rp.db import transaction
from tangsel_rp.i18n import Catalogue
from tangsel_rp.user import RPUser
from tangsel_rp.web import NavItem, PageError, require_csrf

from hotspot import service
from hotspot.i18n import FLASH, MESSAGES
from hotspot.models import Base, Location
from hotspot.settings import HotspotSettings

TEMPLATES = Path(__file__).resolve().parent / "templates"


def create_app(settings: HotspotSettings) -> FastAPI:
    app, kit = build_app(
        settings,
        title="Wi-Fi Tangsel",
        catalogue=Catalogue(MESSAGES),
        app_name_key="app.name",
        template_dir=TEMPLATES,
        metadata=[Base.metadata],
        nav=[
            NavItem("/status", "nav.status", login=True),
            NavItem("/operator", "nav.operator", role=settings.operator_role),
        ],
    )
    web = kit.web
    app.state.clock = time.time  # tests move time forward by replacing this
    OptionalUser = Annotated[RPUser | None, Depends(kit.optional_user)]
    CurrentUser = Annotated[RPUser, Depends(kit.current_user)]
    Operator = Annotated[RPUser, kit.role_required(settings.operator_role)]
    csrf = [Depends(require_csrf)]
    tz = settings.timezone

    def now(request: Request) -> int:
        return int(request.app.state.clock())

    def duration(request: Request, seconds: int) -> str:
        minutes = (max(seconds, 0) + 59) // 60
        return web.gettext(request, "duration", h=minutes // 60, m=minutes % 60)

    def grace_seconds(user: RPUser) -> int | None:
        """A login with acr "0" (OIDC Core 2: below level 1) is the provider's grace login of
        someone whose email is not verified yet: online for a few minutes only, so they can
        open the verification mail."""
        return settings.unverified_grace_minutes * 60 if user.claims.get("acr") == "0" else None

    def device_of(request: Request) -> dict[str, Any] | None:
        device = request.session.get("device")
        return device if isinstance(device, dict) else None

    @app.get("/")
    def landing(
        request: Request,
        user: OptionalUser,
        location: str | None = None,
        mac: str | None = None,
        url: str | None = None,
    ) -> Response:
        if location is not None or mac is not None:
            device = service.normalise_mac(mac)
            if device is None:
                raise PageError("portal.bad_device", 400)
            with transaction(kit.sessions) as db:
                place = (
                    db.get(Location, location) if service.valid_location_code(location) else None
                )
                if place is None:
                    raise PageError("portal.unknown_location", 404)
                name = place.name
            parts = urlsplit(url or "")
            request.session["device"] = {
                "mac": device,
                "location": place.code,
                "location_name": name,
                "url": url if parts.scheme in ("http", "https") and len(url or "") < 2000 else None,
            }
            if user is not None:
                return RedirectResponse("/status", 303)
        return web.render(
            request,
            "landing.html",
            {"device": device_of(request), "quota": duration(request, settings.daily_quota)},
        )

    @app.get("/status")
    def status_page(request: Request, user: CurrentUser, done: str | None = None) -> Response:
        device = device_of(request)
        moment = now(request)
        with transaction(kit.sessions) as db:
            state = service.status(db, user.sub, moment, settings.daily_quota, tz)
            session = state.session
            here = (
                session is not None
                and device is not None
                and session.mac == device["mac"]
                and session.location_code == device["location"]
            )
        return web.render(
            request,
            "status.html",
            {
                "device": device,
                "left_today": duration(request, state.remaining),
                "remaining": state.remaining,
                "session": session,
                "here": here,
                "session_left": duration(request, session.seconds_left(moment)) if session else "",
                "flash": FLASH.get(done or ""),
                "grace_minutes": settings.unverified_grace_minutes if grace_seconds(user) else 0,
            },
        )

    @app.get("/signup")
    async def signup(request: Request) -> Response:
        """A new citizen: the provider's registration page for this login (OpenID Connect
        ``prompt=create``), then back here logged in."""
        return await kit.rp.login_redirect(
            request, "/status", locale=web.locale(request), prompt="create"
        )

    @app.post("/connect", dependencies=csrf)
    def connect(request: Request, user: CurrentUser) -> Response:
        device = device_of(request)
        if device is None:
            return RedirectResponse("/", 303)
        try:
            with transaction(kit.sessions) as db:
                service.connect(
                    db,
                    user.sub,
                    device["mac"],
                    device["location"],
                    now(request),
                    settings.daily_quota,
                    tz,
                    cap=grace_seconds(user),
                )
        except service.HotspotError as exc:
            raise PageError(exc.key, 403 if exc.key == "portal.quota_used" else 404) from None
        return RedirectResponse("/status?done=connected", 303)

    @app.post("/disconnect", dependencies=csrf)
    def disconnect(request: Request, user: CurrentUser) -> Response:
        with transaction(kit.sessions) as db:
            service.disconnect(db, user.sub, now(request))
        return RedirectResponse("/status?done=disconnected", 303)

    @app.get("/api/gateway/decision")
    def gateway_decision(
        request: Request,
        mac: str = "",
        location: str = "",
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        """What a gateway asks before letting a device through: ``authorized`` and for how
        many more seconds (poll again before then)."""
        expected = settings.gateway_token
        if expected is None:
            return JSONResponse({"error": "gateway API not configured"}, status_code=503)
        scheme, _, sent = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            sent.strip().encode(), expected.get_secret_value().encode()
        ):
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="Wi-Fi Tangsel gateway"'},
            )
        device = service.normalise_mac(mac)
        if device is None or not service.valid_location_code(location):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        moment = now(request)
        with transaction(kit.sessions) as db:
            session = service.decision(db, device, location, moment)
            body: dict[str, Any] = {
                "mac": device,
                "location": location,
                "authorized": session is not None,
                "seconds_left": session.seconds_left(moment) if session else 0,
                "expires_at": session.end() if session else None,
            }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/operator")
    def operator(
        request: Request,
        user: Operator,
        day: str | None = None,
        done: str | None = None,
        problem: str | None = None,
    ) -> Response:
        moment = now(request)
        chosen = None
        if day:
            try:
                chosen = int(datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(tz)).timestamp())
            except ValueError:
                chosen = None
        shown = datetime.fromtimestamp(chosen if chosen is not None else moment, ZoneInfo(tz))
        with transaction(kit.sessions) as db:
            rows = service.usage_by_location(db, moment, tz, chosen)
        return web.render(
            request,
            "operator.html",
            {
                "rows": rows,
                "day": shown.date().isoformat(),
                "duration": lambda s: duration(request, s),
                "flash": FLASH.get(done or ""),
                "problem": problem if problem and problem.startswith("operator.") else None,
            },
        )

    @app.post("/operator/locations", dependencies=csrf)
    def add_location(
        request: Request,
        user: Operator,
        code: Annotated[str, Form()] = "",
        name: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            with transaction(kit.sessions) as db:
                service.add_location(db, code, name, now(request))
        except service.HotspotError as exc:
            return RedirectResponse(f"/operator?problem={exc.key}", 303)
        return RedirectResponse("/operator?done=location", 303)

    if settings.device_flow:
        from hotspot import device

        device.install(app, kit, settings)

    return app
