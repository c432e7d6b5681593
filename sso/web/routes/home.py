"""The provider's front page: what it is, in the person's language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sso.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request) -> Response:
    runtime = request.app.state.runtime
    return render(request, "home.html", {"issuer": runtime.settings.issuer_url})
