"""Settings: the one place the provider's configuration is defined.

Every field is read from an ``SSO_``-prefixed environment variable (or a ``.env`` file) and is
documented here; the README's settings table is generated from this class
(``python -m sso.settings_doc --write README.md``). No other module reads the environment.

Outside ``dev`` and ``test``, placeholder or missing secrets, an ``http://`` issuer and SQLite are
refused at start, with every problem reported at once (:func:`Settings.problems`). In ``dev``,
missing secrets are generated once and kept in ``var/secrets.json`` so a restart keeps sessions,
signing keys and encrypted data readable.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sso.core.phone_settings import PhoneCodeSettings
from sso.core.webhook_settings import WebhookSettings

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "placeholder", "dev", "test", "xxx", "todo"}
)


class ConfigError(Exception):
    """The settings cannot be used; ``problems`` lists every reason at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  - " + "\n  - ".join(problems))


class Settings(PhoneCodeSettings, WebhookSettings, BaseSettings):
    """Configuration of one Tangsel SSO deployment (all workers of a city share the same)."""

    model_config = SettingsConfigDict(
        env_prefix="SSO_", env_file=".env", extra="ignore", validate_default=True
    )

    env: Literal["dev", "test", "prod"] = Field(
        "dev",
        description="Deployment kind: dev (local), test (test suite) or prod (refuses unsafe settings).",
    )
    issuer: str = Field(
        "http://127.0.0.1:8000",
        description=(
            "Public base URL of the provider; the `iss` of every token. Must be https in prod. "
            "Unset, `sso serve` uses the address it serves (`--host`, `--port`)."
        ),
    )
    database_url: str = Field(
        "sqlite:///var/sso.db",
        description=(
            "SQLAlchemy URL of the database (PostgreSQL in prod, e.g. postgresql+psycopg://…). "
            "Unset, the SQLite file `sso.db` in SSO_VAR_DIR."
        ),
    )
    database_pool_size: int = Field(10, description="Connections kept open per worker process.")
    redis_url: str | None = Field(
        None,
        description="Redis URL for rate limits and caches shared by workers; without it the database is used.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key for keyed hashes of tokens and secrets and for CSRF tokens (32+ random bytes).",
    )
    key_encryption_key: SecretStr | None = Field(
        None,
        description=(
            "Fernet key(s) encrypting signing keys and NIKs at rest; comma-separated, newest first, "
            "to rotate."
        ),
    )
    admin_username: str = Field(
        "admin", description="Username of the first admin created at start."
    )
    admin_email: str = Field(
        "admin@tangerangselatankota.go.id", description="Email of the first admin."
    )
    admin_password: SecretStr | None = Field(
        None, description="Password of the first admin; generated and printed once when unset."
    )
    var_dir: Path = Field(
        Path("var"), description="Directory for the SQLite database and dev secrets."
    )
    default_locale: Literal["id", "en"] = Field(
        "id", description="Language of pages when the browser asks for none we have."
    )

    access_token_lifetime: int = Field(600, description="Access token lifetime in seconds.")
    id_token_lifetime: int = Field(3600, description="ID token lifetime in seconds.")
    authorization_code_lifetime: int = Field(
        60, description="Authorization code lifetime in seconds (max 60)."
    )
    refresh_token_lifetime: int = Field(
        30 * 24 * 3600, description="Refresh token lifetime in seconds."
    )
    interaction_lifetime: int = Field(
        900, description="How long a parked authorization request waits for login and consent (s)."
    )
    session_idle_lifetime: int = Field(
        2 * 3600, description="Browser session ends after this many seconds without use."
    )
    session_absolute_lifetime: int = Field(
        10 * 3600, description="Browser session ends this many seconds after login, used or not."
    )
    signing_key_lifetime: int = Field(
        90 * 24 * 3600, description="Age in seconds after which `sso keys rotate --if-due` rotates."
    )
    default_signing_alg: Literal["RS256", "ES256"] = Field(
        "RS256", description="Default ID token and access token signing algorithm."
    )
    argon2_memory_cost: int = Field(
        19456, description="argon2id memory cost in KiB (OWASP floor 19456)."
    )
    argon2_time_cost: int = Field(2, description="argon2id iterations (OWASP floor 2).")
    argon2_parallelism: int = Field(1, description="argon2id lanes.")
    password_check_concurrency: int = Field(
        0,
        description=(
            "Concurrent password hash checks per worker; 0 means the number of CPU cores, "
            "divided among the workers of `sso serve --workers N` (at least 1 each)."
        ),
    )
    password_check_queue: int = Field(
        64,
        description=(
            "Requests per worker that may wait (holding no thread) for their turn to check a "
            "password; more are refused at once with 503 and Retry-After (a login storm)."
        ),
    )
    password_check_max_wait: float = Field(
        5.0,
        description="Seconds a password check waits for a slot before the request gets 503.",
    )
    rate_limit_ip_per_minute: int = Field(
        3000,
        description=(
            "Requests per minute from one client IP before 429 with Retry-After (0: no limit). "
            "High, because many people share a carrier-grade NAT address."
        ),
    )
    rate_limit_client_per_minute: int = Field(
        3000,
        description="Requests per minute at /token per client_id before 429 (0: no limit).",
    )
    trusted_proxies: str = Field(
        "",
        description=(
            "Comma-separated addresses or networks (e.g. 10.0.0.0/8) of the load balancers and "
            "reverse proxies in front of the provider: only from them is X-Forwarded-For "
            "believed, so per-IP limits and audit events see the person's address."
        ),
    )
    shutdown_drain_seconds: float = Field(
        5.0,
        description=(
            "After SIGTERM, seconds /readyz answers 503 while requests are still served, so a "
            "load balancer stops sending traffic before the server stops accepting it."
        ),
    )
    backchannel_logout_timeout: float = Field(
        5.0, description="Seconds to wait for a relying party's back-channel logout endpoint."
    )
    backchannel_logout_max_attempts: int = Field(
        5, description="Delivery attempts of a logout token."
    )
    allow_private_client_urls: bool | None = Field(
        None,
        description=(
            "Whether URLs a client registers (jwks_uri, logo_uri, back-channel logout URI …) may "
            "point at private, loopback or link-local addresses; unset means yes in dev and test, "
            "never in prod (SSRF guard)."
        ),
    )
    metrics_token: SecretStr | None = Field(
        None,
        description=(
            "Bearer token a Prometheus scraper sends to /metrics (24+ characters); unset, "
            "/metrics is 404 in prod and open in dev and test."
        ),
    )
    metrics_dir: Path | None = Field(
        None,
        description=(
            "Directory where all worker processes of one server write their metrics "
            "(prometheus-client multiprocess mode), so /metrics adds them up; `sso serve` uses "
            "var_dir/metrics when it starts more than one worker. Unset: per process."
        ),
    )
    log_level: str = Field("INFO", description="Log level (DEBUG, INFO, WARNING, ERROR).")
    log_json: bool = Field(False, description="Write logs as JSON lines (recommended in prod).")
    smtp_host: str | None = Field(
        None, description="SMTP server host; unset in dev writes mail to the log."
    )
    smtp_port: int = Field(587, description="SMTP server port.")
    smtp_starttls: bool = Field(True, description="Use STARTTLS with the SMTP server.")
    smtp_ssl: bool = Field(False, description="Use implicit TLS (SMTPS) with the SMTP server.")
    smtp_username: str | None = Field(None, description="SMTP user name.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    mail_from: str = Field(
        "Tangsel SSO <no-reply@tangerangselatankota.go.id>", description="Sender of mail."
    )
    throttle_window_seconds: int = Field(
        900,
        description=(
            "Guessing protection: failures are forgotten this many seconds after the last one "
            "(or after the lock they caused ends)."
        ),
    )
    throttle_lock_seconds: int = Field(
        60, description="Guessing protection: first lock after a threshold of failures (s)."
    )
    throttle_max_lock_seconds: int = Field(
        900,
        description="Guessing protection: each further lock doubles, up to this many seconds.",
    )
    login_max_failures_account_ip: int = Field(
        5, description="Password attempts for one account from one IP before a lock."
    )
    login_max_failures_account: int = Field(
        10, description="Password attempts for one account from all IPs before a lock."
    )
    login_max_failures_ip: int = Field(
        100,
        description=(
            "Failed logins from one IP before it is locked for accounts that failed there "
            "(high, so people behind one public address do not lock each other out)."
        ),
    )
    mfa_required_for_staff: bool | None = Field(
        None,
        description=(
            "Require a second factor (TOTP or passkey) from every staff member, not only from "
            "holders of admin roles; unset means yes in prod, no in dev and test."
        ),
    )
    admin_require_mfa: bool = Field(
        True,
        description=(
            "The admin UI (/admin) only for people who logged in with a second factor in this "
            "session (acr 2); turn off only for local development."
        ),
    )
    admin_import_max_rows: int = Field(
        50000, description="Rows a staff CSV import file may have in the admin UI."
    )
    client_secret_max_failures: int = Field(
        10, description="Failed client authentications at /token per client and IP before 429."
    )
    device_code_max_failures_ip: int = Field(
        20, description="Wrong device user codes from one IP before a lock."
    )
    password_reset_max_requests_email: int = Field(
        5, description="Password-reset requests for one email before a lock."
    )
    password_reset_max_requests_ip: int = Field(
        50, description="Password-reset requests from one IP before a lock."
    )
    registration_max_requests_ip: int = Field(
        100,
        description=(
            "Registrations from one IP before a lock (high: a festival or hotspot registers "
            "many people from one public address)."
        ),
    )

    @model_validator(mode="after")
    def _database_in_var_dir(self) -> Settings:
        # The development database lives with the dev secrets: moving SSO_VAR_DIR moves both.
        if "database_url" not in self.model_fields_set:
            self.database_url = f"sqlite:///{self.var_dir / 'sso.db'}"
        return self

    # ------------------------------------------------------------------ derived values
    @property
    def issuer_url(self) -> str:
        return self.issuer.rstrip("/")

    @property
    def cookie_secure(self) -> bool:
        return self.issuer_url.startswith("https://")

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret_key_bytes(self) -> bytes:
        assert self.secret_key is not None, "call Settings.finalize() first"
        return self.secret_key.get_secret_value().encode()

    # ------------------------------------------------------------------ validation
    def problems(self) -> list[str]:
        """Every reason these settings are unsafe for ``env`` (empty when fine)."""
        found: list[str] = self.phone_code_problems()
        if not self.issuer_url.startswith(("http://", "https://")):
            found.append(f"SSO_ISSUER must be an absolute http(s) URL, got {self.issuer!r}")
        if self.authorization_code_lifetime > 60 or self.authorization_code_lifetime < 1:
            found.append("SSO_AUTHORIZATION_CODE_LIFETIME must be between 1 and 60 seconds")
        # The test suite (env "test" only) may hash cheaply where hashing is not the subject;
        # dev and prod refuse anything below the floor.
        if self.env != "test" and (self.argon2_memory_cost < 19456 or self.argon2_time_cost < 2):
            found.append("argon2 parameters are below OWASP's floor (m=19456 KiB, t=2)")
        if self.session_idle_lifetime > self.session_absolute_lifetime:
            found.append("SSO_SESSION_IDLE_LIFETIME must not exceed SSO_SESSION_ABSOLUTE_LIFETIME")
        if self.key_encryption_key is not None:
            for part in self.key_encryption_key.get_secret_value().split(","):
                try:
                    Fernet(part.strip().encode())
                except (ValueError, TypeError):
                    found.append(
                        "SSO_KEY_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes)"
                    )
                    break
        for proxy in self.trusted_proxy_list:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                found.append(f"SSO_TRUSTED_PROXIES: {proxy!r} is not an address or network")
        if self.env == "prod":
            if not self.issuer_url.startswith("https://"):
                found.append("SSO_ISSUER must use https:// in prod")
            if self.is_sqlite:
                found.append("SSO_DATABASE_URL must not be SQLite in prod (use PostgreSQL)")
            for name in ("secret_key", "key_encryption_key"):
                value: SecretStr | None = getattr(self, name)
                raw = value.get_secret_value() if value else ""
                if raw.strip().lower() in PLACEHOLDER_SECRETS:
                    found.append(f"SSO_{name.upper()} is missing or a placeholder")
                elif name == "secret_key" and len(raw) < 32:
                    found.append("SSO_SECRET_KEY must be at least 32 characters")
            token = self.metrics_token.get_secret_value() if self.metrics_token else None
            if token is not None and len(token.strip()) < 24:
                found.append("SSO_METRICS_TOKEN must be at least 24 characters")
        return found

    def finalize(self) -> Settings:
        """Check the settings and fill in missing dev/test secrets; raise :class:`ConfigError`.

        In ``dev`` the generated secrets are written to ``var/secrets.json`` (mode 0600) and
        reused on the next start; in ``test`` they live only in memory.
        """
        found = self.problems()
        if found:
            raise ConfigError(found)
        if self.secret_key is None or self.key_encryption_key is None:
            generated = self._stored_dev_secrets() if self.env == "dev" else {}
            if self.secret_key is None:
                self.secret_key = SecretStr(
                    generated.get("secret_key") or secrets.token_urlsafe(48)
                )
            if self.key_encryption_key is None:
                self.key_encryption_key = SecretStr(
                    generated.get("key_encryption_key") or Fernet.generate_key().decode()
                )
            if self.env == "dev":
                self._store_dev_secrets()
        return self

    def _secrets_path(self) -> Path:
        return self.var_dir / "secrets.json"

    def _stored_dev_secrets(self) -> dict[str, str]:
        path = self._secrets_path()
        if path.exists():
            data = json.loads(path.read_text())
            return {k: str(v) for k, v in data.items()}
        return {}

    def _store_dev_secrets(self) -> None:
        assert self.secret_key is not None and self.key_encryption_key is not None
        path = self._secrets_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "secret_key": self.secret_key.get_secret_value(),
            "key_encryption_key": self.key_encryption_key.get_secret_value(),
        }
        if path.exists() and json.loads(path.read_text()) == data:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (plus ``overrides``), validated and finalized."""
    return Settings(**overrides).finalize()  # type: ignore[arg-type]
