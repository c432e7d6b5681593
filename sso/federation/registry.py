"""The upstream identity providers an admin registers: one service for the CLI, the admin
console and any API or config-as-code caller.

API (all flush, never commit; raise :class:`~sso.core.errors.InvalidInput`,
:class:`~sso.core.errors.Conflict` or :class:`~sso.core.errors.NotFound`):

- :func:`create` (``UpstreamSpec``) -> row; :func:`update` (slug, ``UpstreamChanges``) -> row
- :func:`disable` / :func:`enable` (slug) -> row; :func:`get` (slug) -> row
- :func:`list_upstreams`, :func:`enabled_upstreams`; :func:`redirect_uri` (settings, slug)
- :func:`client_secret` (encryptor, row): the decrypted secret, for the token request only
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.crypto import Encryptor
from sso.core.errors import Conflict, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models import UpstreamProvider
from sso.storage import audit
from sso.storage import upstreams as repo

UPSTREAM_CREATED = Event.UPSTREAM_CREATED
UPSTREAM_UPDATED = Event.UPSTREAM_UPDATED
UPSTREAM_DISABLED = Event.UPSTREAM_DISABLED
UPSTREAM_ENABLED = Event.UPSTREAM_ENABLED

ACCOUNTS = ("citizen", "staff", "all")
PRESETS = ("oidc", "google", "inapas")
STAFF_MATCHES = ("nip", "email")
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
GOOGLE_ISSUER = "https://accounts.google.com"
# What each preset means when the admin does not say otherwise. INApas is the national
# identity-assurance source (Dukcapil-verified NIK); Google is not.
PRESET_SCOPE = {
    "oidc": "openid email profile",
    "google": "openid email profile",
    "inapas": "openid profile email nik",
}
PRESET_ASSURANCE = {"oidc": False, "google": False, "inapas": True}


@dataclass(frozen=True)
class UpstreamSpec:
    slug: str
    name: str
    issuer: str
    client_id: str
    client_secret: str
    scope: str | None = None  # None: the preset's
    accounts: str = "citizen"
    preset: str = "oidc"
    identity_assurance: bool | None = None  # None: the preset's
    staff_match: str | None = None
    staff_claim: str | None = None


@dataclass(frozen=True)
class UpstreamChanges:
    """Fields to change; None keeps the stored value (an empty secret keeps the secret)."""

    name: str | None = None
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    accounts: str | None = None
    identity_assurance: bool | None = None
    staff_match: str | None = None  # "" removes the mapping
    staff_claim: str | None = None


def redirect_uri(settings: Settings, slug: str) -> str:
    """The callback the upstream must know, exactly."""
    return f"{settings.issuer_url}/upstreams/{slug}/callback"


def _issuer(value: str, settings: Settings) -> str:
    issuer = value.strip()
    parts = urlsplit(issuer)
    plain_ok = settings.env in ("dev", "test")
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or (parts.scheme == "http" and not plain_ok)
    ):
        raise InvalidInput(
            "upstream.issuer_invalid",
            detail="the issuer must be an https URL without query or fragment",
        )
    if len(issuer) > 500:
        raise InvalidInput("upstream.issuer_invalid", detail="issuer longer than 500 characters")
    return issuer


def _scope(value: str) -> str:
    scopes = value.split()
    if "openid" not in scopes:
        raise InvalidInput("upstream.scope_openid", detail="the scope must include openid")
    if any(not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", s) for s in scopes):
        raise InvalidInput(
            "upstream.scope_invalid", detail="a scope has characters RFC 6749 refuses"
        )
    return " ".join(dict.fromkeys(scopes))[:500]


def _text(value: str, key: str, limit: int) -> str:
    text = " ".join(value.split())
    if not text or len(text) > limit:
        raise InvalidInput(key, detail=f"{key}: required, at most {limit} characters")
    return text


def _staff(accounts: str, match: str | None, claim: str | None) -> tuple[str | None, str | None]:
    if accounts not in ACCOUNTS:
        raise InvalidInput("upstream.accounts_invalid", detail="accounts: citizen, staff or all")
    match = match or None
    if match is not None and match not in STAFF_MATCHES:
        raise InvalidInput("upstream.staff_match_invalid", detail="staff match: nip or email")
    if match is None:
        return None, None
    claim = (claim or "").strip() or match
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", claim):
        raise InvalidInput("upstream.staff_claim_invalid", detail="not a claim name")
    return match, claim


def create(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    spec: UpstreamSpec,
    *,
    actor_id: str | None = None,
) -> UpstreamProvider:
    slug = spec.slug.strip()
    if not SLUG.fullmatch(slug):
        raise InvalidInput(
            "upstream.slug_invalid",
            detail="slug: 1-40 of a-z, 0-9 and -, not starting or ending with -",
        )
    if spec.preset not in PRESETS:
        raise InvalidInput("upstream.preset_invalid", detail="preset: oidc, google or inapas")
    issuer = _issuer(spec.issuer, settings)
    if spec.preset == "google" and issuer != GOOGLE_ISSUER:
        raise InvalidInput("upstream.google_issuer", detail=f"Google's issuer is {GOOGLE_ISSUER}")
    match, claim = _staff(spec.accounts, spec.staff_match, spec.staff_claim)
    secret = spec.client_secret.strip()
    if not secret:
        raise InvalidInput("upstream.secret_required", detail="the client secret is required")
    if repo.slug_taken(session, slug):
        raise Conflict("upstream.slug_taken", detail=f"an upstream {slug!r} exists")
    row = repo.add(
        session,
        UpstreamProvider(
            slug=slug,
            name=_text(spec.name, "upstream.name_required", 100),
            issuer=issuer,
            client_id=_text(spec.client_id, "upstream.client_id_required", 255),
            client_secret_encrypted=encryptor.encrypt(secret),
            scope=_scope(spec.scope or PRESET_SCOPE[spec.preset]),
            accounts=spec.accounts,
            preset=spec.preset,
            identity_assurance=(
                PRESET_ASSURANCE[spec.preset]
                if spec.identity_assurance is None
                else spec.identity_assurance
            ),
            staff_match=match,
            staff_claim=claim,
            enabled=True,
        ),
    )
    audit.record(
        session,
        UPSTREAM_CREATED,
        actor_id=actor_id,
        target_type="upstream",
        target_id=row.id,
        slug=slug,
        issuer=issuer,
        preset=spec.preset,
        accounts=spec.accounts,
    )
    return row


def get(session: Session, slug: str) -> UpstreamProvider:
    row = repo.get_by_slug(session, slug.strip())
    if row is None:
        raise NotFound("upstream.unknown", detail=f"no upstream {slug!r}")
    return row


def update(
    session: Session,
    settings: Settings,
    encryptor: Encryptor,
    slug: str,
    changes: UpstreamChanges,
    *,
    actor_id: str | None = None,
) -> UpstreamProvider:
    row = get(session, slug)
    changed: list[str] = []

    def put(name: str, value: object) -> None:
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)

    if changes.name is not None:
        put("name", _text(changes.name, "upstream.name_required", 100))
    if changes.issuer is not None:
        put("issuer", _issuer(changes.issuer, settings))
    if changes.client_id is not None:
        put("client_id", _text(changes.client_id, "upstream.client_id_required", 255))
    if changes.scope is not None:
        put("scope", _scope(changes.scope))
    if changes.identity_assurance is not None:
        put("identity_assurance", changes.identity_assurance)
    accounts = changes.accounts if changes.accounts is not None else row.accounts
    match = changes.staff_match if changes.staff_match is not None else row.staff_match
    claim = changes.staff_claim if changes.staff_claim is not None else row.staff_claim
    match, claim = _staff(accounts, match, claim)
    put("accounts", accounts)
    put("staff_match", match)
    put("staff_claim", claim)
    if changes.client_secret and changes.client_secret.strip():
        row.client_secret_encrypted = encryptor.encrypt(changes.client_secret.strip())
        changed.append("client_secret")
    session.flush()
    if changed:
        audit.record(
            session,
            UPSTREAM_UPDATED,
            actor_id=actor_id,
            target_type="upstream",
            target_id=row.id,
            slug=row.slug,
            fields=changed,
        )
    return row


def disable(session: Session, slug: str, *, actor_id: str | None = None) -> UpstreamProvider:
    """No button, no new round trip, no login through it; linked identities stay (enabling it
    again restores them)."""
    row = get(session, slug)
    if row.enabled:
        row.enabled = False
        session.flush()
        audit.record(
            session,
            UPSTREAM_DISABLED,
            actor_id=actor_id,
            target_type="upstream",
            target_id=row.id,
            slug=row.slug,
        )
    return row


def enable(session: Session, slug: str, *, actor_id: str | None = None) -> UpstreamProvider:
    row = get(session, slug)
    if not row.enabled:
        row.enabled = True
        session.flush()
        audit.record(
            session,
            UPSTREAM_ENABLED,
            actor_id=actor_id,
            target_type="upstream",
            target_id=row.id,
            slug=row.slug,
        )
    return row


def list_upstreams(session: Session) -> list[UpstreamProvider]:
    return repo.list_all(session)


def enabled_upstreams(session: Session) -> list[UpstreamProvider]:
    return repo.list_all(session, enabled_only=True)


def client_secret(encryptor: Encryptor, row: UpstreamProvider) -> str:
    return encryptor.decrypt(row.client_secret_encrypted)


def login_buttons(session: Session, interaction_id: str) -> list[dict[str, str]]:
    """The login page's button per enabled upstream (one that logs nobody in is left out)."""
    return [
        {
            "name": u.name,
            "slug": u.slug,
            "href": f"/upstreams/{u.slug}/start?interaction={interaction_id}",
        }
        for u in repo.list_all(session, enabled_only=True)
        if u.accounts in ("citizen", "all") or u.staff_match is not None
    ]
