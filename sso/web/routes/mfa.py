"""Second factors: the MFA step of a login, and enrolment/management of TOTP, recovery codes and passkeys (issue 4)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
