"""GET /metrics: Prometheus text format (:mod:`sso.web.metrics` says what is counted).

Protected by ``SSO_METRICS_TOKEN``: the scraper sends ``Authorization: Bearer <token>``
(Prometheus ``authorization`` / ``bearer_token_file``), compared in constant time; a missing or
wrong token gets 401. Without a token the endpoint does not exist in prod (404, the same answer
as any unknown path) and is open in dev and test.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from sso.core.crypto import constant_time_equals
from sso.web.deps import runtime_of
from sso.web.metrics import CONTENT_TYPE

router = APIRouter(include_in_schema=False)


def _authorised(request: Request, expected: str) -> bool:
    scheme, _, value = (request.headers.get("authorization") or "").strip().partition(" ")
    return scheme.lower() == "bearer" and constant_time_equals(value.strip(), expected)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings
    if settings.metrics_token is None:
        if settings.env == "prod":
            raise HTTPException(status_code=404)
    elif not _authorised(request, settings.metrics_token.get_secret_value()):
        return Response(
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
        )
    return Response(
        runtime.metrics.render(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"}
    )
