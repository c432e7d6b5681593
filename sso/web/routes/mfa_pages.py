"""Pages of the second factor, shared by the login interaction and ``/account/security``:
asking for a factor, TOTP enrolment (QR code and manual key) and recovery codes shown once."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from sso.accounts import mfa, totp
from sso.core.crypto import Encryptor
from sso.db.models import User
from sso.web import security
from sso.web.navigation import Nav
from sso.web.templating import render


def verify_page(
    request: Request,
    session: Session,
    interaction_id: str,
    user: User,
    *,
    locale: str,
    client_name: str,
    step_up: bool,
    error: str | None = None,
    method: str = "totp",
    status: int = 200,
) -> Response:
    base = f"/interaction/{interaction_id}"
    context: dict[str, Any] = {
        "client_name": client_name,
        "action": f"{base}/mfa",
        "abort_action": f"{base}/abort",
        "passkey_options": f"{base}/passkey/options",
        "passkey_finish": f"{base}/passkey",
        "csrf_token": security.csrf.token_for(request),
        "factors": mfa.factors(session, user.id),
        "step_up": step_up,
        "error": error,
        "method": method,
    }
    return render(request, "mfa/verify.html", context, status=status, locale=locale)


def enrol_page(
    request: Request,
    session: Session,
    encryptor: Encryptor,
    user: User,
    *,
    action: str,
    locale: str | None = None,
    required: bool = False,
    requested: bool = False,
    cancel_action: str | None = None,
    cancel_url: str | None = None,
    client_name: str | None = None,
    error: str | None = None,
    status: int = 200,
    nav: Nav | None = None,
) -> Response:
    """The QR code and key of the enrolment in progress (started now when there is none).
    ``nav``: the signed-in header, on the account console's pages (not during a login)."""
    secret = mfa.pending_totp_secret(session, encryptor, user)
    uri = totp.provisioning_uri(secret, user.email or user.username)
    context: dict[str, Any] = {
        "client_name": client_name,
        "action": action,
        "csrf_token": security.csrf.token_for(request),
        # segno's SVG of our own otpauth URI: paths only, nothing from outside.
        "qr_svg": Markup(totp.qr_svg(uri)),  # noqa: S704
        "manual_key": totp.grouped(secret),
        "required": required,
        "requested": requested,
        "cancel_action": cancel_action,
        "cancel_url": cancel_url,
        "error": error,
        "nav": nav,
    }
    return render(request, "mfa/enrol.html", context, status=status, locale=locale)


def recovery_codes_page(
    request: Request,
    codes: list[str],
    *,
    continue_url: str,
    locale: str | None = None,
    enrolled: bool = False,
    nav: Nav | None = None,
) -> Response:
    return render(
        request,
        "mfa/recovery_codes.html",
        {"codes": codes, "continue_url": continue_url, "enrolled": enrolled, "nav": nav},
        locale=locale,
    )
