"""Settings of the hotspot portal: ``HOTSPOT_*`` variables (see tangsel_rp.settings too)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from tangsel_rp.settings import RPSettings


class HotspotSettings(RPSettings):
    model_config = SettingsConfigDict(env_prefix="HOTSPOT_", env_file=".env", extra="ignore")

    base_url: str = "http://127.0.0.1:8103"
    port: int = 8103
    database_url: str = "sqlite:///var/hotspot.db"
    scope: str = "openid profile email roles offline_access"
    session_cookie: str = "hotspot_session"
    operator_role: str = "hotspot-operator"
    daily_quota: int = Field(7200, ge=60, description="Internet time per person per day (s).")
    timezone: str = Field("Asia/Jakarta", description="Where a day starts and ends.")
    gateway_token: SecretStr | None = Field(
        None,
        description="Bearer token the gateways send to /api/gateway/decision; the API answers "
        "503 while it is unset.",
    )
    unverified_grace_minutes: int = Field(
        10,
        ge=1,
        description='Minutes online for a login with acr "0": a person who signed up with an '
        "email only and has not opened the verification mail yet (Tangsel SSO lets them log in "
        "for SSO_EMAIL_VERIFICATION_GRACE_MINUTES); keep the two equal.",
    )
    device_flow: bool = Field(
        True,
        description="Let devices without a browser (smart TVs, kiosks) log in with the OAuth 2.0 "
        "Device Authorization Grant (RFC 8628); the client registration then needs the grant "
        "type urn:ietf:params:oauth:grant-type:device_code.",
    )
    device_scope: str = Field(
        "openid profile", description="Scopes a device login asks (openid gets the ID token)."
    )
