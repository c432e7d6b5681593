"""Claims about a person, released by scope (OIDC Core §5.4) and by the ``claims`` request
parameter (§5.5).

Scopes and what they release:

- ``profile``: name, given_name, family_name, preferred_username, locale, updated_at (epoch)
- ``email``: email, email_verified
- ``phone``: phone_number, phone_number_verified
- ``opd`` (staff only): ``opd`` = {code, name} of their agency, position, nip, and roles
- ``roles``: ``roles`` = global roles plus this client's app roles
- ``nik``: nik (decrypted) and ``nik_verified`` (true only for a NIK from an identity-assurance
  upstream such as INApas), only if the person has a NIK

A claim is only ever released inside the granted scopes: the ``claims`` parameter chooses
which of those claims go into the ID token (``id_token`` member) and cannot widen what
/userinfo returns. Unknown claim names are ignored. ``sub`` is always the user id. Claims
without a value are left out rather than sent as null.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from sso.core.crypto import Encryptor
from sso.db.models import Client, User
from sso.storage import roles as role_repo

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": (
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "locale",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "opd": ("opd", "position", "nip", "roles"),
    "roles": ("roles",),
    "nik": ("nik", "nik_verified"),
}


def claims_for_scopes(scopes: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for scope in scopes:
        names.update(SCOPE_CLAIMS.get(scope, ()))
    return names


def requested_members(claims_request: Mapping[str, Any] | None, member: str) -> set[str]:
    """Claim names asked for in one member (``userinfo`` or ``id_token``) of ``claims``."""
    if not isinstance(claims_request, Mapping):
        return set()
    section = claims_request.get(member)
    if not isinstance(section, Mapping):
        return set()
    return {name for name in section if isinstance(name, str)}


def _roles(session: Session, user: User, client: Client) -> list[str]:
    global_roles = role_repo.role_names_for(session, user.id, user.agency_id, None)
    app_roles = role_repo.role_names_for(session, user.id, user.agency_id, client.id)
    return list(dict.fromkeys([*global_roles, *app_roles]))


def _values(
    session: Session, encryptor: Encryptor, user: User, client: Client, names: Collection[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in names:
        out["name"] = user.display_name or None
    if "given_name" in names:
        out["given_name"] = user.given_name
    if "family_name" in names:
        out["family_name"] = user.family_name
    if "preferred_username" in names:
        out["preferred_username"] = user.username
    if "locale" in names:
        out["locale"] = user.locale
    if "updated_at" in names and user.updated_at is not None:
        out["updated_at"] = int(user.updated_at.timestamp())
    if user.email and "email" in names:
        out["email"] = user.email
    if user.email and "email_verified" in names:
        out["email_verified"] = bool(user.email_verified)
    if user.phone and "phone_number" in names:
        out["phone_number"] = user.phone
    if user.phone and "phone_number_verified" in names:
        out["phone_number_verified"] = bool(user.phone_verified)
    if user.kind == "staff":
        if "opd" in names and user.agency is not None:
            out["opd"] = {"code": user.agency.code, "name": user.agency.name}
        if "position" in names:
            out["position"] = user.position
        if "nip" in names:
            out["nip"] = user.nip
    if "roles" in names:
        out["roles"] = _roles(session, user, client)
    if user.nik_encrypted:
        if "nik" in names:
            out["nik"] = encryptor.decrypt(user.nik_encrypted)
        if "nik_verified" in names:
            out["nik_verified"] = bool(user.nik_verified)
    return {name: value for name, value in out.items() if value is not None}


def userinfo_claims(
    session: Session,
    encryptor: Encryptor,
    user: User,
    client: Client,
    scopes: Iterable[str],
    claims_request: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """/userinfo: every claim of the granted scopes (``claims.userinfo`` cannot add more)."""
    allowed = claims_for_scopes(scopes)
    names = allowed | (requested_members(claims_request, "userinfo") & allowed)
    return {"sub": user.id, **_values(session, encryptor, user, client, names)}


def id_token_claims(
    session: Session,
    encryptor: Encryptor,
    user: User,
    client: Client,
    scopes: Iterable[str],
    claims_request: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Person claims for the ID token: those asked for in ``claims.id_token`` within scope.

    With an access token issued alongside, scope claims come from /userinfo (OIDC Core §5.4),
    so without a ``claims`` request the ID token carries none of them.
    """
    names = requested_members(claims_request, "id_token") & claims_for_scopes(scopes)
    return _values(session, encryptor, user, client, names) if names else {}
