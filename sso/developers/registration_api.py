"""OAuth 2.0 Dynamic Client Registration (RFC 7591) and Management (RFC 7592) (issue 5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
