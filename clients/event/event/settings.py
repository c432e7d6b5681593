"""Settings of the event site: ``EVENT_*`` variables (see tangsel_rp.settings for each)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict
from tangsel_rp.settings import RPSettings


class EventSettings(RPSettings):
    model_config = SettingsConfigDict(env_prefix="EVENT_", env_file=".env", extra="ignore")

    base_url: str = "http://127.0.0.1:8101"
    port: int = 8101
    database_url: str = "sqlite:///var/event.db"
    scope: str = "openid profile email roles offline_access"
    session_cookie: str = "event_session"
    organizer_role: str = "organizer"
