"""Where a phone code goes: WhatsApp, SMS, or (in dev, with no gateway) the log.

- **WhatsApp**: the WhatsApp Business Cloud API's template message. ``POST
  {SSO_WHATSAPP_API_URL}/{phone number id}/messages`` with ``Authorization: Bearer …`` and
  ``{"messaging_product": "whatsapp", "to": …, "type": "template", "template": {"name": …,
  "language": {"code": …}, "components": [{"type": "body", "parameters": [{"type": "text",
  "text": CODE}]}]}}`` (plus the copy-code button's parameter for templates that have one).
  Business-initiated messages must be approved templates; an *authentication* template is the
  kind meant for codes.
- **SMS**: any HTTP gateway: ``POST SSO_SMS_GATEWAY_URL`` with the header of
  ``SSO_SMS_GATEWAY_AUTH_HEADER`` and the JSON of ``SSO_SMS_GATEWAY_BODY`` whose strings get
  ``{to}``, ``{code}`` and ``{message}`` filled in (after parsing, so a value can never break
  the JSON).

:func:`deliver` tries the configured channels in order and falls to the next when one refuses
(a non-2xx answer) or cannot be reached. Nothing here logs a code or a token, except the dev
log channel, which exists only in ``dev`` with no gateway configured.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from sso.config import Settings

log = logging.getLogger("sso.codes")

MESSAGES = {
    "id": "Kode Tangsel SSO Anda: {code}. Berlaku {minutes} menit. Jangan berikan kode ini "
    "kepada siapa pun, termasuk petugas.",
    "en": "Your Tangsel SSO code: {code}. Valid for {minutes} minutes. Do not share this code "
    "with anyone, staff included.",
}


@dataclass(frozen=True)
class PhoneMessage:
    to: str  # E.164
    code: str
    locale: str
    minutes: int

    @property
    def text(self) -> str:
        return MESSAGES.get(self.locale, MESSAGES["id"]).format(
            code=self.code, minutes=self.minutes
        )


class GatewayError(Exception):
    """A gateway refused or could not be reached (the message says which, never a secret)."""


def whatsapp_request(settings: Settings, message: PhoneMessage) -> tuple[str, dict[str, Any]]:
    """URL and JSON body of the Cloud API template message carrying the code."""
    components: list[dict[str, Any]] = [
        {"type": "body", "parameters": [{"type": "text", "text": message.code}]}
    ]
    if settings.whatsapp_template_button:
        components.append(
            {
                "type": "button",
                "sub_type": "url",
                "index": "0",
                "parameters": [{"type": "text", "text": message.code}],
            }
        )
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to,
        "type": "template",
        "template": {
            "name": settings.whatsapp_template,
            "language": {"code": settings.whatsapp_template_language},
            "components": components,
        },
    }
    url = f"{settings.whatsapp_api_url.rstrip('/')}/{settings.whatsapp_phone_number_id}/messages"
    return url, body


def _fill(value: Any, fields: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, filled in fields.items():
            value = value.replace("{" + name + "}", filled)
        return value
    if isinstance(value, list):
        return [_fill(v, fields) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, fields) for k, v in value.items()}
    return value


def sms_request(settings: Settings, message: PhoneMessage) -> tuple[str, dict[str, str], Any]:
    """URL, headers and JSON body for the SMS gateway."""
    fields = {"to": message.to, "code": message.code, "message": message.text}
    body = _fill(json.loads(settings.sms_gateway_body), fields)
    headers: dict[str, str] = {}
    if settings.sms_gateway_auth_header is not None:
        name, _, value = settings.sms_gateway_auth_header.get_secret_value().partition(":")
        headers[name.strip()] = value.strip()
    return str(settings.sms_gateway_url), headers, body


def channels(settings: Settings) -> list[str]:
    """The channels that can carry a code now, in the order tried ("log" only in dev)."""
    ready = []
    for channel in settings.phone_channel_list:
        if (
            channel == "whatsapp"
            and settings.whatsapp_phone_number_id
            and settings.whatsapp_access_token
        ):
            ready.append("whatsapp")
        elif channel == "sms" and settings.sms_gateway_url:
            ready.append("sms")
    if not ready and settings.env == "dev":
        ready.append("log")
    return ready


def _post(settings: Settings, url: str, headers: dict[str, str], body: Any) -> None:
    try:
        response = httpx.post(
            url, json=body, headers=headers, timeout=settings.phone_gateway_timeout
        )
    except httpx.HTTPError as exc:
        raise GatewayError(f"unreachable ({type(exc).__name__})") from None
    if not 200 <= response.status_code < 300:
        raise GatewayError(f"answered HTTP {response.status_code}")


def send_by(settings: Settings, channel: str, message: PhoneMessage) -> None:
    if channel == "whatsapp":
        url, body = whatsapp_request(settings, message)
        token = settings.whatsapp_access_token
        assert token is not None
        _post(settings, url, {"Authorization": f"Bearer {token.get_secret_value()}"}, body)
    elif channel == "sms":
        url, headers, sms_body = sms_request(settings, message)
        _post(settings, url, headers, sms_body)
    elif channel == "log" and settings.env == "dev":
        # Development only: nobody runs a gateway on a laptop.
        log.warning("DEV ONLY, code for %s: %s", message.to, message.code)
    else:
        raise GatewayError(f"channel {channel!r} is not available")


def deliver(
    settings: Settings, message: PhoneMessage, order: list[str] | None = None
) -> str | None:
    """Send by the first channel that takes the message; that channel, or None if none did."""
    for channel in order if order is not None else channels(settings):
        try:
            send_by(settings, channel, message)
        except GatewayError as exc:
            log.warning("phone code by %s to %s not sent: %s", channel, message.to[:6] + "…", exc)
            continue
        log.info("phone code sent by %s to %s…", channel, message.to[:6])
        return channel
    return None
