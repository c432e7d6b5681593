"""``/keys``: the signing keys (public parts only), by state; rotate (the active key retires,
the next one signs, a new next one is made) and retire a key that does not sign. Admins only
(``keys.manage``), as in the console."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, or_, select

from sso.api.common import Paging, Reader, Writer, iso, page_response, resource
from sso.core.errors import NotFound
from sso.db.models import SigningKey
from sso.storage import keys as key_repo
from sso.storage import keyset
from sso.storage.admin_lists import clean

router = APIRouter(prefix="/keys", tags=["signing keys"])


class KeyOut(BaseModel):
    kid: str
    alg: str
    state: Literal["active", "next", "retired"]
    created_at: str
    activated_at: str | None
    retired_at: str | None
    unpublish_at: str | None
    public_jwk: dict[str, Any]


class KeyList(BaseModel):
    items: list[KeyOut]


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alg: Literal["RS256", "ES256"] | None = None


def key_body(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state,
        "created_at": iso(key.created_at),
        "activated_at": iso(key.activated_at),
        "retired_at": iso(key.retired_at),
        "unpublish_at": iso(key.unpublish_at),
        "public_jwk": dict(key.public_jwk),
    }


@router.get("", response_model=KeyList)
def list_keys(
    call: Reader,
    paging: Paging,
    q: Annotated[str, Query(max_length=100, description="Any part of the kid or alg.")] = "",
    state: Literal["active", "next", "retired"] | None = None,
) -> Response:
    call.allow("keys.manage")
    stmt = select(SigningKey)
    text = clean(q).casefold()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(SigningKey.kid).like(pattern, escape="\\"),
                func.lower(SigningKey.alg).like(pattern, escape="\\"),
            )
        )
    if state:
        stmt = stmt.where(SigningKey.state == state)
    found = keyset.page(
        call.session,
        stmt,
        SigningKey.kid,
        after=paging.after,
        before=paging.before,
        limit=paging.limit,
    )
    rows = found.rows
    return page_response(
        call.request,
        [key_body(k) for k in rows],
        first_key=rows[0].kid if rows else None,
        last_key=rows[-1].kid if rows else None,
        more_before=found.more_before,
        more_after=found.more_after,
    )


def _key(call: Any, kid: str) -> SigningKey:
    found = key_repo.get(call.session, kid[:64])
    if found is None:
        raise NotFound("admin.keys.unknown")
    return found


@router.get("/{kid}", response_model=KeyOut)
def get_key(call: Reader, kid: str) -> Response:
    call.allow("keys.manage")
    return resource(key_body(_key(call, kid)))


@router.post("/rotate", response_model=KeyList)
def rotate(call: Writer, body: RotateIn | None = None) -> Response:
    """Rotate the keys of ``alg`` (both algorithms when absent); answers with every key of the
    key set as it is now."""
    call.allow("keys.manage")
    keys = call.runtime.keys
    keys.rotate(call.session, body.alg if body else None)
    call.commit()
    keys.cache.invalidate()
    rows = key_repo.list_all(call.session)
    return resource({"items": [key_body(k) for k in rows]})


@router.post("/{kid}/retire", response_model=KeyOut)
def retire(call: Writer, kid: str) -> Response:
    """Take a key that does not sign out of service now (the active key: rotate first)."""
    call.allow("keys.manage")
    _key(call, kid)
    keys = call.runtime.keys
    retired = keys.retire(call.session, kid[:64])
    call.commit()
    keys.cache.invalidate()
    return resource(key_body(retired))
