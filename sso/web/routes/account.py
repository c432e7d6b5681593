"""The account console at /account: profile, password, sessions, connected apps, data export, deletion (issue 4)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
