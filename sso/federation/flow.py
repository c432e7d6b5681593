"""One round trip to an upstream: the authorization request (code flow, PKCE S256, ``state``
and ``nonce``), then the callback: the ``state`` consumed once and only in the browser that
started it, the code exchanged at the upstream's token endpoint, the ID token validated
(:mod:`.id_tokens`) and the upstream's userinfo read with the access token (OIDC Core §5.3;
its ``sub`` must be the ID token's, §5.3.2).

``state`` and the continuation tokens travel in URLs; the database holds only their keyed
hashes, bound (as the parked interaction is) to the browser's ``sso_browser`` cookie.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import Encryptor, keyed_hash
from sso.db.models import UpstreamLogin, UpstreamProvider
from sso.federation import registry
from sso.federation.id_tokens import IdTokenRefused, validate
from sso.federation.metadata import MetadataCache, UpstreamUnavailable, http_call
from sso.storage import upstreams as repo

# A round trip waits at most this long for the upstream (and then for the person's answer).
ROUND_TRIP = timedelta(minutes=10)
STATE_PURPOSE = "upstream-state"
CONTINUE_PURPOSE = "upstream-continue"


class FlowExpired(Exception):
    """Unknown, used, expired or another browser's ``state`` or continuation."""


class RoundTripFailed(Exception):
    """The round trip ended without an identity: ``kind`` is ``refused`` (the upstream said
    no: ``access_denied`` …), ``unavailable`` (down, or an unusable answer) or ``bad_token``
    (an answer we do not trust); ``reason`` is for operators. Nothing was created or linked."""

    def __init__(
        self, kind: str, reason: str, *, slug: str, purpose: str, interaction_id: str | None
    ) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason
        self.slug = slug
        self.purpose = purpose
        self.interaction_id = interaction_id


@dataclass(frozen=True)
class Verified:
    """A validated identity at an upstream, and what the round trip was for."""

    upstream: UpstreamProvider
    subject: str
    claims: dict[str, Any]
    purpose: str  # login | link
    interaction_id: str | None
    user_id: str | None  # purpose "link": who links


def browser_hash(settings: Settings, browser_value: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), browser_value, "browser")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def start(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    cache: MetadataCache,
    upstream: UpstreamProvider,
    browser_value: str,
    *,
    purpose: str,
    interaction_id: str | None = None,
    user_id: str | None = None,
    locale: str | None = None,
) -> str:
    """Park the round trip; returns the upstream's authorization URL to redirect to.
    Raises UpstreamUnavailable when the upstream's discovery document cannot be had."""
    meta = cache.metadata(upstream.issuer)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier, challenge = _pkce()
    repo.add_login(
        session,
        UpstreamLogin(
            id_hash=keyed_hash(settings.secret_key_bytes(), state, STATE_PURPOSE),
            browser_binding=browser_hash(settings, browser_value),
            upstream_id=upstream.id,
            purpose=purpose,
            stage="authorize",
            nonce=nonce,
            code_verifier_encrypted=encryptor.encrypt(verifier),
            interaction_encrypted=encryptor.encrypt(interaction_id) if interaction_id else None,
            user_id=user_id,
            expires_at=now() + ROUND_TRIP,
        ),
    )
    query = {
        "response_type": "code",
        "client_id": upstream.client_id,
        "redirect_uri": registry.redirect_uri(settings, upstream.slug),
        "scope": upstream.scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if locale:
        query["ui_locales"] = locale
    if upstream.preset == "google":
        query["prompt"] = "select_account"
    sep = "&" if "?" in meta.authorization_endpoint else "?"
    return meta.authorization_endpoint + sep + urlencode(query)


def _take(
    session: Session, settings: Settings, id_hash: str, browser_value: str | None, stage: str
) -> UpstreamLogin:
    row = repo.get_login(session, id_hash)
    if (
        row is None
        or not browser_value
        or row.stage != stage
        or row.browser_binding != browser_hash(settings, browser_value)
        or not repo.consume_login(session, id_hash)
    ):
        raise FlowExpired()
    return row


def _exchange(
    settings: Settings,
    encryptor: Encryptor,
    cache: MetadataCache,
    upstream: UpstreamProvider,
    row: UpstreamLogin,
    code: str,
) -> dict[str, Any]:
    meta = cache.metadata(upstream.issuer)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": registry.redirect_uri(settings, upstream.slug),
        "code_verifier": encryptor.decrypt(row.code_verifier_encrypted),
    }
    headers: dict[str, str] = {}
    secret = registry.client_secret(encryptor, upstream)
    if "client_secret_basic" in meta.token_auth_methods:
        # RFC 6749 §2.3.1: both parts form-urlencoded before base64.
        from urllib.parse import quote

        pair = f"{quote(upstream.client_id, safe='')}:{quote(secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        data["client_id"] = upstream.client_id
        data["client_secret"] = secret
    response = http_call(settings, "POST", meta.token_endpoint, data=data, headers=headers)
    try:
        body = response.json()
    except ValueError:
        raise UpstreamUnavailable(f"token: HTTP {response.status_code}, not JSON") from None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise IdTokenRefused(f"token endpoint refused the code: {str(error)[:40]}")
    claims = validate(
        cache, meta, body.get("id_token"), client_id=upstream.client_id, nonce=row.nonce
    )
    access_token = body.get("access_token")
    if meta.userinfo_endpoint and isinstance(access_token, str):
        info = http_call(
            settings,
            "GET",
            meta.userinfo_endpoint,
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if info.status_code == 200 and info.headers.get("content-type", "").startswith(
            "application/json"
        ):
            extra = info.json()
            if isinstance(extra, dict):
                if extra.get("sub") != claims["sub"]:
                    raise IdTokenRefused("userinfo names another sub")
                # The ID token's signed values win over userinfo's.
                claims = {**extra, **claims}
    return claims


def callback(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    cache: MetadataCache,
    slug: str,
    query: dict[str, str],
    browser_value: str | None,
) -> Verified:
    """The upstream's answer, validated. Raises FlowExpired or RoundTripFailed. The ``state``
    is consumed first, so a code is never exchanged twice."""
    state = query.get("state") or ""
    if not state or len(state) > 200:
        raise FlowExpired()
    row = _take(
        session,
        settings,
        keyed_hash(settings.secret_key_bytes(), state, STATE_PURPOSE),
        browser_value,
        "authorize",
    )
    upstream = repo.get(session, row.upstream_id)
    if upstream is None or upstream.slug != slug or not upstream.enabled:
        raise FlowExpired()
    interaction_id = (
        encryptor.decrypt(row.interaction_encrypted) if row.interaction_encrypted else None
    )

    def failed(kind: str, reason: str) -> RoundTripFailed:
        return RoundTripFailed(
            kind, reason, slug=upstream.slug, purpose=row.purpose, interaction_id=interaction_id
        )

    if query.get("error"):
        raise failed("refused", query["error"][:64])
    # RFC 9207: an upstream that says who answered must be the one we asked (mix-up attacks).
    if "iss" in query and query["iss"] != upstream.issuer:
        raise failed("bad_token", "authorization response from another issuer")
    code = query.get("code") or ""
    if not code or len(code) > 2048:
        raise failed("bad_token", "no code in the authorization response")
    try:
        claims = _exchange(settings, encryptor, cache, upstream, row, code)
    except IdTokenRefused as exc:
        raise failed("bad_token", exc.reason) from None
    except UpstreamUnavailable as exc:
        raise failed("unavailable", str(exc)) from None
    return Verified(upstream, str(claims["sub"]), claims, row.purpose, interaction_id, row.user_id)


# ---------------------------------------------------------------------------- continuation


def park_answer(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    verified: Verified,
    browser_value: str,
    *,
    stage: str,
    user_id: str | None,
) -> str:
    """Keep a validated identity while the person answers (proves the local account, or fills
    in missing fields); returns the continuation token for the URL."""
    token = secrets.token_urlsafe(32)
    payload = {
        "claims": verified.claims,
        "interaction": verified.interaction_id,
        "purpose": verified.purpose,
    }
    repo.add_login(
        session,
        UpstreamLogin(
            id_hash=keyed_hash(settings.secret_key_bytes(), token, CONTINUE_PURPOSE),
            browser_binding=browser_hash(settings, browser_value),
            upstream_id=verified.upstream.id,
            purpose=verified.purpose,
            stage=stage,
            nonce="-",
            code_verifier_encrypted=encryptor.encrypt("-"),
            interaction_encrypted=None,
            user_id=user_id,
            subject=verified.subject,
            claims_encrypted=encryptor.encrypt(json.dumps(payload)),
            expires_at=now() + ROUND_TRIP,
        ),
    )
    return token


@dataclass(frozen=True)
class Parked:
    row: UpstreamLogin
    verified: Verified


def load_answer(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    token: str,
    browser_value: str | None,
    *,
    consume: bool,
) -> Parked:
    """A parked identity for this browser (FlowExpired otherwise); ``consume`` uses it up."""
    if not token or len(token) > 200 or not browser_value:
        raise FlowExpired()
    id_hash = keyed_hash(settings.secret_key_bytes(), token, CONTINUE_PURPOSE)
    row = repo.get_login(session, id_hash)
    if (
        row is None
        or row.consumed_at is not None
        or row.expires_at <= now()
        or row.stage == "authorize"
        or row.claims_encrypted is None
        or row.browser_binding != browser_hash(settings, browser_value)
    ):
        raise FlowExpired()
    if consume and not repo.consume_login(session, id_hash):
        raise FlowExpired()
    upstream = repo.get(session, row.upstream_id)
    if upstream is None or not upstream.enabled:
        raise FlowExpired()
    payload = json.loads(encryptor.decrypt(row.claims_encrypted))
    verified = Verified(
        upstream,
        str(row.subject),
        dict(payload["claims"]),
        str(payload["purpose"]),
        payload.get("interaction"),
        None,
    )
    return Parked(row, verified)
