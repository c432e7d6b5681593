"""Settings of one-time codes by WhatsApp, SMS and mail, their sending limits, and the grace
login of an unverified email (issue 15). A part of :class:`sso.config.Settings` (which inherits
it), kept apart so the settings module stays readable; every field is still an ``SSO_``
variable in the README's table.
"""

from __future__ import annotations

import json

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

DEFAULT_SMS_BODY = '{"to": "{to}", "message": "{message}"}'


class PhoneCodeSettings(BaseSettings):
    phone_code_channels: str = Field(
        "whatsapp,sms",
        description=(
            "Channels tried in order for a phone code (`whatsapp`, `sms`); the next one when a "
            "gateway refuses or is down. A channel without its gateway settings is skipped; with "
            "none configured, codes go to the log in dev and phone codes are off elsewhere."
        ),
    )
    whatsapp_api_url: str = Field(
        "https://graph.facebook.com/v21.0",
        description="Base URL of the WhatsApp Business Cloud API (messages go to "
        "{base}/{phone number id}/messages).",
    )
    whatsapp_phone_number_id: str | None = Field(
        None, description="The WhatsApp Business phone number id that sends the codes."
    )
    whatsapp_access_token: SecretStr | None = Field(
        None, description="Bearer token of the WhatsApp Business Cloud API (never logged)."
    )
    whatsapp_template: str = Field(
        "kode_verifikasi",
        description="Approved authentication template; its body's one parameter is the code "
        "(and its copy-code button's, when the template has one).",
    )
    whatsapp_template_language: str = Field(
        "id", description="Language code of the WhatsApp template (`id`, `en_US`, …)."
    )
    whatsapp_template_button: bool = Field(
        False, description="The template has a copy-code (OTP) button that takes the code too."
    )
    sms_gateway_url: str | None = Field(
        None, description="URL the SMS gateway takes a message at (HTTP POST, JSON body)."
    )
    sms_gateway_auth_header: SecretStr | None = Field(
        None,
        description="Header that authenticates us at the SMS gateway, as `Name: value` "
        "(e.g. `Authorization: Bearer …`; never logged).",
    )
    sms_gateway_body: str = Field(
        DEFAULT_SMS_BODY,
        description="JSON body sent to the SMS gateway; `{to}` (E.164), `{code}` and "
        "`{message}` (the whole text) are filled into its strings.",
    )
    phone_gateway_timeout: float = Field(
        10.0, description="Seconds to wait for the WhatsApp or SMS gateway."
    )
    phone_allowed_regions: str = Field(
        "ID",
        description="Countries (ISO 3166 codes, comma-separated) whose mobile numbers codes are "
        "sent to; empty means all (not advised: SMS pumping buys foreign premium ranges).",
    )
    phone_code_max_sends_number: int = Field(
        5, description="Codes sent to one number or email address per hour."
    )
    phone_code_max_sends_ip: int = Field(
        60, description="Codes asked for from one IP address per hour (high: shared NAT, hotspots)."
    )
    phone_code_max_sends_prefix: int = Field(
        300,
        description="Codes sent per hour to the numbers of one range (country code and the first "
        "SSO_PHONE_CODE_PREFIX_DIGITS digits): SMS pumping walks a range.",
    )
    phone_code_prefix_digits: int = Field(
        5, description="National digits that make a number's range for the per-prefix limit."
    )
    phone_code_daily_budget: int = Field(
        20000,
        description="WhatsApp and SMS messages sent per day (UTC) by all workers; past it no code "
        "goes out until the next day (the cost ceiling).",
    )
    email_verification_grace_minutes: int = Field(
        10,
        description="Minutes after an email-only registration in which the person may log in "
        "before opening the verification mail (acr `0`; 0 turns the grace off).",
    )

    def phone_code_problems(self) -> list[str]:
        found: list[str] = []
        for channel in self.phone_channel_list:
            if channel not in ("whatsapp", "sms"):
                found.append(f"SSO_PHONE_CODE_CHANNELS: unknown channel {channel!r}")
        if bool(self.whatsapp_phone_number_id) != bool(self.whatsapp_access_token):
            found.append("SSO_WHATSAPP_PHONE_NUMBER_ID and SSO_WHATSAPP_ACCESS_TOKEN go together")
        try:
            body = json.loads(self.sms_gateway_body)
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            found.append("SSO_SMS_GATEWAY_BODY must be a JSON object")
        header = self.sms_gateway_auth_header
        if header is not None and ":" not in header.get_secret_value():
            found.append("SSO_SMS_GATEWAY_AUTH_HEADER must be `Name: value`")
        if (
            min(
                self.phone_code_max_sends_number,
                self.phone_code_max_sends_ip,
                self.phone_code_max_sends_prefix,
                self.phone_code_daily_budget,
            )
            < 1
        ):
            found.append("phone code sending limits must be at least 1")
        return found

    @property
    def phone_channel_list(self) -> list[str]:
        return [c.strip() for c in self.phone_code_channels.split(",") if c.strip()]

    @property
    def phone_region_set(self) -> frozenset[str]:
        return frozenset(
            r.strip().upper() for r in self.phone_allowed_regions.split(",") if r.strip()
        )
