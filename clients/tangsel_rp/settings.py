"""Settings every relying party has. Each app subclasses :class:`RPSettings` with its own
environment prefix (``EVENT_``, ``PORTAL_``, ``HOTSPOT_``) and defaults; values come from the
environment or a ``.env`` file in the working directory (``clients/demo.py`` writes one)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RPSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    oidc_issuer: str = Field(
        "http://127.0.0.1:8000",
        description="Issuer URL of Tangsel SSO; discovery is read from "
        "<issuer>/.well-known/openid-configuration.",
    )
    client_id: str = Field(description="client_id given by `sso clients create`.")
    client_secret: SecretStr = Field(description="client_secret given by `sso clients create`.")
    base_url: str = Field("http://127.0.0.1:8100", description="Public URL of this app.")
    host: str = Field("127.0.0.1", description="Address `python -m <app>` listens on.")
    port: int = Field(8100, description="Port `python -m <app>` listens on.")
    database_url: str = Field("sqlite:///var/app.db", description="SQLAlchemy database URL.")
    scope: str = Field("openid profile email roles offline_access", description="Scopes asked.")
    session_cookie: str = Field("rp_session", description="Name of the session cookie.")
    session_lifetime: int = Field(8 * 3600, description="Local session lifetime (seconds).")
    refresh_margin: int = Field(
        60, description="Refresh the access token this many seconds before it expires."
    )
    clock_skew: int = Field(60, description="Leeway (seconds) when checking token times.")
    jwks_min_refetch_interval: float = Field(
        10.0, description="Minimum seconds between JWKS refetches caused by an unknown kid."
    )
    http_timeout: float = Field(10.0, description="Timeout (seconds) of calls to the provider.")
    default_locale: Literal["id", "en"] = Field("id", description="Language of pages.")
    grant_roles: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Extra app roles granted locally, by sub or preferred_username, e.g. "
        '{"rina": ["organizer"]}: a stop-gap until roles are assigned at the provider.',
    )
    log_level: str = Field("INFO", description="Log level.")

    @field_validator("client_id", "oidc_issuer", "base_url")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value or not value.strip():
            raise ValueError("must be set (register the client with `sso clients create`)")
        return value.strip().rstrip("/")

    @field_validator("client_secret")
    @classmethod
    def _secret_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must be set (register the client with `sso clients create`)")
        return value

    @property
    def secure_cookies(self) -> bool:
        """Cookies are ``Secure`` whenever the app is served over https."""
        return urlsplit(self.base_url).scheme == "https"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"
