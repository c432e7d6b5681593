"""Settings of the data portal: ``PORTAL_*`` variables (see tangsel_rp.settings for the rest)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from tangsel_rp.settings import RPSettings


class PortalSettings(RPSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_", env_file=".env", extra="ignore")

    base_url: str = "http://127.0.0.1:8102"
    port: int = 8102
    database_url: str = "sqlite:///var/data_portal.db"
    scope: str = "openid profile email opd roles offline_access"
    session_cookie: str = "portal_session"
    publisher_role: str = "publisher"
    api_audiences: str = Field(
        "",
        description="Comma-separated `aud` values the API accepts besides this portal's own "
        "client_id. The provider issues a token with the requesting client as `aud`, so an "
        "agency system's client_id has to be listed here to call the API.",
    )
    api_client_agencies: dict[str, str] = Field(
        default_factory=dict,
        description='Machine clients allowed to publish, and for which agency: {"client_id": '
        '"DINKES"} (JSON).',
    )
    max_upload_bytes: int = Field(5_000_000, description="Largest CSV accepted (bytes).")

    @property
    def accepted_audiences(self) -> list[str]:
        listed = [a.strip() for a in self.api_audiences.split(",") if a.strip()]
        return [self.client_id, *listed]
