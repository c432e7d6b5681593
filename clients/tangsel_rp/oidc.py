"""Logging people in and out with Tangsel SSO, on Authlib's Starlette OAuth client.

- Discovery: metadata from ``<issuer>/.well-known/openid-configuration``; its ``issuer`` must
  be exactly ours (OpenID Connect Discovery 1.0 §4.3).
- Login: authorization code with PKCE (S256) and a ``nonce``; Authlib keeps ``state``,
  ``nonce`` and the verifier in the server-side session and checks ``state`` on the way back.
  We also check the ``iss`` response parameter (RFC 9207, against mix-up attacks). The ID token
  is validated by Authlib: signature from the JWKS (refetched for an unknown ``kid``), ``iss``,
  ``aud``, ``exp``, ``iat``, ``nonce``, ``at_hash``. Claims then come from /userinfo, whose
  ``sub`` must match the ID token's (OIDC Core §5.3.2). A new session id is issued at login.
- Refresh: ``refresh_margin`` seconds before the access token expires, one request (in any
  worker) refreshes it; a refused refresh (``invalid_grant``: the grant was revoked) ends the
  local session.
- Logout: the local session ends, the refresh token is revoked (RFC 7009), then the browser
  goes to the provider's ``end_session_endpoint`` with ``id_token_hint``,
  ``post_logout_redirect_uri`` and ``state`` (RP-Initiated Logout 1.0).
- Back-channel logout: a valid logout token ends every local session of its ``sid`` (and
  ``sub``), in every worker, because sessions live in the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tangsel_rp.jwks import Discovery, JWKSCache, ProviderUnavailable, check_metadata
from tangsel_rp.logout_token import LogoutRequest, LogoutTokenValidator
from tangsel_rp.sessions import Login, SessionStore, session_state
from tangsel_rp.settings import RPSettings
from tangsel_rp.tls import SSL_CONTEXT
from tangsel_rp.user import LoginFailed, RPUser

log = logging.getLogger("tangsel_rp.oidc")


class RelyingParty:
    def __init__(self, settings: RPSettings, store: SessionStore) -> None:
        self.settings = settings
        self.store = store
        self.issuer = settings.oidc_issuer
        self.discovery = Discovery(self.issuer, timeout=settings.http_timeout)
        self.jwks = JWKSCache(
            self.discovery,
            min_refetch_interval=settings.jwks_min_refetch_interval,
            timeout=settings.http_timeout,
        )
        self.logout_tokens = LogoutTokenValidator(
            self.jwks, self.issuer, settings.client_id, leeway=settings.clock_skew
        )
        self.oauth = OAuth()
        self.oauth.register(
            "sso",
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            server_metadata_url=self.discovery.url,
            client_kwargs={
                "scope": settings.scope,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "timeout": settings.http_timeout,
                "verify": SSL_CONTEXT,
            },
        )
        # Called (in the thread pool) with each person who logs in or whose claims refresh:
        # apps keep their own record of people (e.g. the portal's publishers).
        self.on_login: list[Callable[[RPUser], None]] = []

    @property
    def client(self) -> Any:
        return self.oauth.create_client("sso")

    @property
    def redirect_uri(self) -> str:
        return self.settings.url("/auth/callback")

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.settings.url("/logged-out")

    async def metadata(self) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = await self.client.load_server_metadata()
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(str(exc)) from exc
        check_metadata(doc, self.issuer)
        return doc

    # -- login ---------------------------------------------------------------------------

    async def login_redirect(
        self, request: Request, next_url: str, *, locale: str, prompt: str | None = None
    ) -> Response:
        await self.metadata()
        request.session["login_next"] = next_url
        extra: dict[str, str] = {"ui_locales": locale}
        if prompt:
            extra["prompt"] = prompt
        response: Response = await self.client.authorize_redirect(
            request, self.redirect_uri, **extra
        )
        response.status_code = 303
        return response

    async def complete_login(self, request: Request) -> RPUser:
        """Finish the authorization code flow; raises :class:`LoginFailed`."""
        params = request.query_params
        error = params.get("error")
        if error:
            state = params.get("state")
            if state:
                await self.client.framework.clear_state_data(request.session, state)
            raise LoginFailed(error if error.isascii() and len(error) < 64 else "invalid_response")
        try:
            metadata = await self.metadata()
        except ProviderUnavailable as exc:
            raise LoginFailed("provider_unavailable", str(exc)) from exc
        iss = params.get("iss")
        if iss is None and metadata.get("authorization_response_iss_parameter_supported"):
            raise LoginFailed("invalid_response", "no iss in the authorization response")
        if iss is not None and iss != self.issuer:
            raise LoginFailed("invalid_response", f"iss {iss!r} is not our provider")
        try:
            token = await self.client.authorize_access_token(
                request, leeway=self.settings.clock_skew
            )
        except OAuthError as exc:
            raise LoginFailed(exc.error or "login_failed", str(exc.description or "")) from exc
        except JoseError as exc:
            raise LoginFailed("invalid_token", str(exc)) from exc
        except AuthlibBaseError as exc:  # e.g. a claim that fails validation
            raise LoginFailed("invalid_token", str(exc)) from exc
        except httpx.HTTPError as exc:
            raise LoginFailed("provider_unavailable", str(exc)) from exc
        id_claims = token.get("userinfo")
        if not token.get("id_token") or not id_claims:
            raise LoginFailed("invalid_response", "no ID token")
        claims = await self._userinfo(token)
        if claims.get("sub") != id_claims["sub"]:
            raise LoginFailed("invalid_token", "userinfo sub differs from the ID token's")
        for name in ("sid", "auth_time", "amr", "acr"):
            if name in id_claims:
                claims.setdefault(name, id_claims[name])
        login = Login(
            sub=str(id_claims["sub"]),
            sid=id_claims.get("sid") if isinstance(id_claims.get("sid"), str) else None,
            claims=claims,
            id_token=token["id_token"],
            access_token=token.get("access_token"),
            refresh_token=token.get("refresh_token"),
            scope=token.get("scope"),
            token_expires_at=_expires_at(token),
        )
        session_state(request).start_login(login)
        user = RPUser.from_claims(claims, self.settings.grant_roles)
        await self._notify(user)
        return user

    async def _userinfo(self, token: dict[str, Any]) -> dict[str, Any]:
        try:
            info = await self.client.userinfo(token=token)
        except (httpx.HTTPError, AuthlibBaseError) as exc:
            raise LoginFailed("provider_unavailable", f"userinfo: {exc}") from exc
        return dict(info)

    async def _notify(self, user: RPUser) -> None:
        for hook in self.on_login:
            await run_in_threadpool(hook, user)

    # -- the person of a request, refreshed ------------------------------------------------

    async def current_user(self, request: Request) -> RPUser | None:
        state = session_state(request)
        if state.login is not None:  # logged in during this very request
            return RPUser.from_claims(state.login.claims, self.settings.grant_roles)
        record = state.record
        if record is None or record.sub is None or state.regenerate:
            return None
        claims = record.claims or {"sub": record.sub}
        due = (
            record.refresh_token is not None
            and record.token_expires_at is not None
            and record.token_expires_at - time.time() <= self.settings.refresh_margin
        )
        if due:
            refreshed = await self._refresh(request)
            if refreshed is False:
                return None
            if isinstance(refreshed, dict):
                claims = refreshed
        return RPUser.from_claims(claims, self.settings.grant_roles)

    async def _refresh(self, request: Request) -> dict[str, Any] | bool:
        """New tokens before the old expire. Returns the new claims, True when nothing changed
        (another request is refreshing, or the provider could not be reached), or False when
        the grant is gone and the local session was ended."""
        state = session_state(request)
        record = state.record
        assert record is not None and record.refresh_token is not None
        if not await run_in_threadpool(self.store.lock_refresh, record.id):
            return True
        login: Login | None = None
        try:
            token = await self.client.fetch_access_token(
                grant_type="refresh_token",
                refresh_token=record.refresh_token,
                **({"scope": record.scope} if record.scope else {}),
            )
        except OAuthError as exc:
            if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
                log.info("refresh refused (%s): ending local session", exc.error)
                await run_in_threadpool(self.store.delete, record.id)
                state.end()
                return False
            log.warning("refresh failed: %s", exc)
            await run_in_threadpool(self.store.store_refresh, record.id, None)
            return True
        except (httpx.HTTPError, AuthlibBaseError) as exc:
            log.warning("refresh failed: %s", exc)
            await run_in_threadpool(self.store.store_refresh, record.id, None)
            return True
        claims = dict(record.claims or {"sub": record.sub})
        id_token = record.id_token
        new_id_token = token.get("id_token")
        if new_id_token and await run_in_threadpool(
            self._check_refreshed_id_token, new_id_token, record.sub
        ):
            id_token = new_id_token
        try:
            fresh = await self.client.userinfo(token=token)
            if fresh.get("sub") == record.sub:
                keep: dict[str, Any] = {
                    k: claims[k] for k in ("sid", "auth_time", "amr", "acr") if k in claims
                }
                claims = {**dict(fresh), **keep}
        except (httpx.HTTPError, AuthlibBaseError) as exc:
            log.warning("userinfo after refresh failed: %s", exc)
        login = Login(
            sub=str(record.sub),
            sid=record.sid,
            claims=claims,
            id_token=id_token,
            access_token=token.get("access_token"),
            refresh_token=token.get("refresh_token") or record.refresh_token,
            scope=token.get("scope") or record.scope,
            token_expires_at=_expires_at(token),
        )
        await run_in_threadpool(self.store.store_refresh, record.id, login)
        await self._notify(RPUser.from_claims(claims, self.settings.grant_roles))
        return claims

    def _check_refreshed_id_token(self, id_token: str, sub: str | None) -> bool:
        """OIDC Core §12.2: a refreshed ID token has our iss, aud and the same sub."""
        try:
            decoded = self.jwks.decode(id_token)
        except (JoseError, ProviderUnavailable):
            return False
        claims = decoded.claims
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        return (
            claims.get("iss") == self.issuer
            and self.settings.client_id in auds
            and claims.get("sub") == sub
        )

    # -- logout ----------------------------------------------------------------------------

    async def logout_redirect(self, request: Request, *, locale: str) -> Response:
        state = session_state(request)
        record = state.record
        id_token = record.id_token if record is not None else None
        refresh_token = record.refresh_token if record is not None else None
        state.end()
        try:
            metadata = await self.metadata()
        except ProviderUnavailable:
            return RedirectResponse("/logged-out?local=1", 303)
        if refresh_token and metadata.get("revocation_endpoint"):
            await self._revoke(metadata["revocation_endpoint"], refresh_token)
        if not metadata.get("end_session_endpoint"):
            return RedirectResponse("/logged-out?local=1", 303)
        response: Response = await self.client.logout_redirect(
            request,
            post_logout_redirect_uri=self.post_logout_redirect_uri,
            id_token_hint=id_token,
            client_id=self.settings.client_id,
            ui_locales=locale,
        )
        response.status_code = 303
        return response

    async def _revoke(self, endpoint: str, refresh_token: str) -> None:
        try:
            async with httpx.AsyncClient(
                timeout=self.settings.http_timeout, verify=SSL_CONTEXT
            ) as http:
                await http.post(
                    endpoint,
                    data={"token": refresh_token, "token_type_hint": "refresh_token"},
                    auth=(self.settings.client_id, self.settings.client_secret.get_secret_value()),
                )
        except httpx.HTTPError as exc:  # best effort: the provider's logout ends it anyway
            log.warning("revocation failed: %s", exc)

    async def revoke_refresh_tokens(self, tokens: list[str]) -> None:
        """Our grants may be ``offline_access`` ones, which outlive the provider's session:
        once the local session is gone nobody needs its refresh token any more."""
        try:
            endpoint = (await self.metadata()).get("revocation_endpoint")
        except ProviderUnavailable:
            return
        for token in tokens if endpoint else []:
            await self._revoke(endpoint, token)

    async def logout_response_valid(self, request: Request) -> bool:
        """The ``state`` we sent with the logout request came back."""
        try:
            await self.client.validate_logout_response(request)
        except OAuthError:
            return False
        return True

    def backchannel_logout(self, logout_token: str) -> tuple[LogoutRequest, list[str]]:
        """Validate a logout token and end its sessions (raises ``InvalidLogoutToken``);
        returns the refresh tokens of the ended sessions."""
        request = self.logout_tokens.validate(logout_token)
        tokens = self.store.end_for(sid=request.sid, sub=request.sub)
        log.info("back-channel logout of sid=%s sub=%s", request.sid, request.sub)
        return request, tokens


def _expires_at(token: dict[str, Any]) -> int | None:
    expires_at = token.get("expires_at")
    if isinstance(expires_at, int | float):
        return int(expires_at)
    expires_in = token.get("expires_in")
    if isinstance(expires_in, int | float):
        return int(time.time() + expires_in)
    return None
