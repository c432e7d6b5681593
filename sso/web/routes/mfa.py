"""Second factors: the MFA step of a login (:mod:`sso.web.routes.mfa_login`) and enrolment and
management of TOTP, recovery codes and passkeys at ``/account/security``
(:mod:`sso.web.routes.mfa_account`); the pages they share are in
:mod:`sso.web.routes.mfa_pages` (issue 4)."""

from __future__ import annotations

from fastapi import APIRouter

from sso.web.routes import mfa_account, mfa_login

router = APIRouter(include_in_schema=False)
router.include_router(mfa_login.router)
router.include_router(mfa_account.router)
