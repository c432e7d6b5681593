"""Discovery documents and the JWKS, served from bytes built once (cheap and cacheable)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sso.web import api_docs
from sso.web.deps import runtime_of

router = APIRouter(tags=["discovery"])
JSON = "application/json"
DOCUMENT_HEADERS = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
JWKS_HEADERS = {"Cache-Control": "public, max-age=60", "Access-Control-Allow-Origin": "*"}


@router.get("/.well-known/openid-configuration", **api_docs.DISCOVERY)
async def openid_configuration(request: Request) -> Response:
    return Response(
        runtime_of(request).discovery[0],
        media_type=JSON,
        headers=DOCUMENT_HEADERS,
    )


@router.get("/.well-known/oauth-authorization-server", **api_docs.DISCOVERY)
async def oauth_metadata(request: Request) -> Response:
    return Response(
        runtime_of(request).discovery[1],
        media_type=JSON,
        headers=DOCUMENT_HEADERS,
    )


@router.get("/jwks.json", **api_docs.JWKS)
async def jwks(request: Request) -> Response:
    runtime = runtime_of(request)
    keys = runtime.keys
    # The bytes are built once per key-set version; only a due revalidation (one small query,
    # every few seconds) goes to the thread pool.
    body = keys.cache.fresh_jwks()
    if body is None:
        body = await run_in_threadpool(keys.jwks)
    # Short max-age: relying parties pick up a newly published key within minutes.
    return Response(body, media_type="application/jwk-set+json", headers=JWKS_HEADERS)
