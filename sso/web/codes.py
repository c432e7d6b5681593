"""What every page that sends or takes a one-time code shares (the account console's phone
and email verification, login by code and registration with a phone number): sending after
the response, the refusal pages' messages, the code form's context."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from sso.accounts import code_delivery, code_senders, otp
from sso.accounts import phone as phones
from sso.accounts.code_requests import CodeRequest
from sso.accounts.throttle import wait_minutes
from sso.db.models import OneTimeCode
from sso.web import security
from sso.web.app_runtime import AppRuntime

# otp.Check.status → the message shown under the code field
CHECK_MESSAGES = {
    "wrong": "code.wrong",
    "malformed": "code.malformed",
    "expired": "code.expired",
    "used": "code.used",
    "exhausted": "code.exhausted",
}


def send_after(response: Response, runtime: AppRuntime, request: CodeRequest | None) -> Response:
    """Send the code in a background task after the response (nothing when there is none to
    send: the page is the same either way)."""
    if request is not None and request.outgoing is not None:
        response.background = BackgroundTask(
            code_delivery.send,
            runtime.settings,
            runtime.throttle,
            runtime.mailer,
            request.outgoing,
        )
    return response


def phone_channels(runtime: AppRuntime) -> list[str]:
    """The phone channels a person may choose between (the log counts as none of them)."""
    return [c for c in code_senders.channels(runtime.settings) if c in ("whatsapp", "sms")]


def too_many(retry_after: int) -> dict[str, Any]:
    return {"error": "code.too_many", "error_params": {"minutes": wait_minutes(retry_after)}}


def form_context(
    request: Request,
    runtime: AppRuntime,
    row: OneTimeCode,
    *,
    action: str,
    resend_action: str,
    error: str | None = None,
    error_params: dict[str, Any] | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    """The context of ``_code_form.html``: where the code went (masked), the form, "send
    again" (by the other phone channel too) and the message of the last try."""
    is_phone = row.channel != "email"
    return {
        "code_action": action,
        "resend_action": resend_action,
        "challenge": row.id,
        "channel": row.channel,
        "sent_to": phones.masked(row.destination) if is_phone else row.destination,
        "channels": phone_channels(runtime) if is_phone else [],
        "minutes": otp.minutes(),
        "csrf_token": security.csrf.token_for(request),
        "code_error": error,
        "code_error_params": error_params or {},
        "code_notice": notice,
    }
