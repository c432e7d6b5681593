"""The routes every relying party has: log in, the redirect back, log out, the page after
logout, the back-channel logout endpoint and the language switch; and the FastAPI
dependencies that give a route the person logged in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from tangsel_rp.i18n import LOCALES
from tangsel_rp.jwks import ProviderUnavailable
from tangsel_rp.logout_token import InvalidLogoutToken
from tangsel_rp.oidc import RelyingParty
from tangsel_rp.sessions import session_state
from tangsel_rp.user import LoginFailed, RPUser
from tangsel_rp.web import LoginRequired, PageError, Web, require_csrf, safe_next

log = logging.getLogger("tangsel_rp.routes")
NO_STORE = {"Cache-Control": "no-store"}


def auth_router(rp: RelyingParty, web: Web) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login")
    async def login(request: Request, next: str = "/") -> Response:  # noqa: A002
        try:
            return await rp.login_redirect(request, safe_next(next), locale=web.locale(request))
        except ProviderUnavailable as exc:
            log.warning("login: %s", exc)
            return web.error(request, "error.provider_unavailable", 503)

    @router.get("/auth/callback")
    async def callback(request: Request) -> Response:
        try:
            user = await rp.complete_login(request)
        except LoginFailed as exc:
            log.info("login failed: %s", exc)
            status = 503 if exc.code == "provider_unavailable" else 400
            return web.error(request, exc.message_key, status, code=exc.code, retry_login=True)
        request.state.user = user
        next_url = safe_next(request.session.pop("login_next", "/"))
        return RedirectResponse(next_url, 303)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        if session_state(request).record is None:  # already gone (e.g. a back-channel logout)
            return RedirectResponse("/", 303)
        await require_csrf(request)
        return await rp.logout_redirect(request, locale=web.locale(request))

    @router.get("/logged-out")
    async def logged_out(request: Request, local: str | None = None) -> Response:
        valid = local is not None or await rp.logout_response_valid(request)
        return web.render(request, "logged_out.html", {"state_ok": valid})

    @router.post("/backchannel-logout")
    async def backchannel_logout(
        background: BackgroundTasks, logout_token: Annotated[str, Form()] = ""
    ) -> Response:
        # Back-Channel Logout 1.0 §2.8: 200 when done, 400 with an error when refused.
        if not logout_token:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "logout_token is missing"},
                status_code=400,
                headers=NO_STORE,
            )
        try:
            _, refresh_tokens = await run_in_threadpool(rp.backchannel_logout, logout_token)
        except InvalidLogoutToken as exc:
            log.warning("back-channel logout refused: %s", exc)
            return JSONResponse(
                {"error": "invalid_request", "error_description": str(exc)},
                status_code=400,
                headers=NO_STORE,
            )
        if refresh_tokens:  # after the answer: the provider is waiting for our 200
            background.add_task(rp.revoke_refresh_tokens, refresh_tokens)
        return Response(status_code=200, headers=NO_STORE)

    @router.get("/lang/{code}")
    async def switch_language(code: str, next: str = "/") -> Response:  # noqa: A002
        response = RedirectResponse(safe_next(next), 303)
        if code in LOCALES:
            response.set_cookie("lang", code, max_age=365 * 86400, samesite="lax", path="/")
        return response

    return router


UserLoader = Callable[[Request], Awaitable[RPUser | None]]


def user_dependencies(
    rp: RelyingParty,
) -> tuple[UserLoader, Callable[[Request], Awaitable[RPUser]], Callable[[str], object]]:
    """(optional_user, current_user, role_required(role)) for ``Depends(...)``."""

    async def optional_user(request: Request) -> RPUser | None:
        if hasattr(request.state, "user"):
            return request.state.user  # type: ignore[no-any-return]
        user = await rp.current_user(request)
        request.state.user = user
        return user

    async def current_user(request: Request) -> RPUser:
        user = await optional_user(request)
        if user is None:
            query = f"?{request.url.query}" if request.url.query else ""
            next_url = request.url.path + query if request.method == "GET" else "/"
            raise LoginRequired(next_url)
        return user

    def role_required(role: str) -> object:
        async def check(request: Request) -> RPUser:
            user = await current_user(request)
            if not user.has_role(role):
                raise PageError("error.forbidden", 403)
            return user

        return Depends(check)

    return optional_user, current_user, role_required
