"""Done-when of issue 16's webhooks: a receiver started by the test verifies every signature
and, after deduplication by ``webhook-id``, sees every event of a scripted admin session
exactly once, although the provider (a real ``sso serve`` with two workers) is killed with
SIGKILL in the middle of it and started again. On SQLite and PostgreSQL.

The admin session runs partly in the provider (sign-ins to the admin console, failed sign-ins)
and partly through the admin services in this process, as the console and the CLI call them
(agencies, staff, roles, disabling). "Every event" is read back from the audit log afterwards:
the receiver must get exactly the audit events written since the subscription, no more (no
event of a request the kill cut off and rolled back) and no fewer."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import NewUser, create_user, disable_user
from sso.admin.services import agencies as agency_service
from sso.admin.services import roles as role_service
from sso.config import Settings
from sso.db.models import AuditEvent, WebhookSubscription
from sso.runtime import Runtime, build_runtime, upgrade_database
from sso.webhooks import subscriptions as service
from tests.conftest import POSTGRES_URL
from tests.factories import enrol_totp
from tests.oidc.flow import csrf_of, open_console_page
from tests.resilience.procs import Provider, base_env, database, wait_until
from tests.webhooks.receiver import Receiver

PASSWORD = "Kota-Tangsel-2026!aman"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sso.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("SSO_TEST_POSTGRES_URL is not set")
    admin = POSTGRES_URL.replace("+psycopg", "").rsplit("/", 1)[0] + "/postgres"
    with database(admin, f"sso_hooks_kill_{secrets.token_hex(3)}") as url:
        yield url


def failed_login(base: str, username: str) -> None:
    """A wrong password at the console's sign-in page (``user.login_failed``)."""
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.get("/admin", follow_redirects=False)
        r = http.get(r.headers["location"], follow_redirects=False)
        interaction = r.headers["location"]
        page = http.get(interaction)
        http.post(
            f"{interaction}/login",
            data={
                "username": username,
                "password": "salah-sandi-" + secrets.token_hex(4),
                "csrf_token": csrf_of(page.text),
            },
            follow_redirects=False,
        )


def admin_signs_in(base: str, totp: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as http:
        r = open_console_page(
            http,
            "/admin",
            "admin",
            PASSWORD,
            totp_secret=totp,
        )
        assert r.status_code == 200


def test_every_event_arrives_once_across_a_sigkill(database_url: str, tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.delay = 0.05  # a receiver a little slower than the events
    env_settings = {
        "SSO_ENV": "test",
        "SSO_DATABASE_URL": database_url,
        "SSO_SECRET_KEY": secrets.token_urlsafe(48),
        "SSO_KEY_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SSO_ADMIN_PASSWORD": PASSWORD,
        "SSO_ADMIN_REQUIRE_MFA": "false",
        "SSO_LOG_LEVEL": "WARNING",
        "SSO_SHUTDOWN_DRAIN_SECONDS": "0.5",
        "SSO_VAR_DIR": str(tmp_path / "var"),
        "SSO_WEBHOOK_TIMEOUT": "1",
        "SSO_WEBHOOK_RETRY_BASE": "0.5",
        "SSO_WEBHOOK_RETRY_CAP": "1",
        "SSO_WEBHOOK_WORKER_INTERVAL": "0.5",
    }
    upgrade_database(database_url)
    settings = Settings(
        env="test",
        database_url=database_url,
        secret_key=env_settings["SSO_SECRET_KEY"],
        key_encryption_key=env_settings["SSO_KEY_ENCRYPTION_KEY"],
        admin_password=PASSWORD,
    ).finalize()
    rt: Runtime = build_runtime(settings)
    provider: Provider | None = None
    try:
        hasher = PasswordHasher(settings)
        with rt.sessions() as s:
            made = service.create(
                s, settings, rt.encryptor, url=receiver.url, event_types=["*"], description="SOC"
            )
            s.commit()
        receiver.secrets.append(made.secret)
        provider = Provider(base_env(**env_settings), tmp_path, "hooks")
        provider.env["SSO_ISSUER"] = provider.url
        provider.workers = 2
        with rt.sessions() as s:  # the first admin (`sso bootstrap` does the same)
            admin = create_user(
                s,
                hasher,
                NewUser(username="admin", email="admin@tangsel.test", kind="staff"),
                PASSWORD,
                admin=True,
            )
            s.commit()
            admin_id = admin.id
            totp = enrol_totp(rt, s, admin)
            s.commit()
        provider.start().wait_ready(90)

        def admin_work(step: int) -> None:
            with rt.sessions() as s:
                code = f"OPD{step}"
                agency_service.create(s, code, f"Dinas {step}", None, actor_id=admin_id)
                for i in range(3):
                    create_user(
                        s,
                        hasher,
                        NewUser(
                            username=f"asn{step}x{i}",
                            email=f"asn{step}x{i}@tangsel.test",
                            kind="staff",
                            agency_code=code,
                            display_name=f"ASN {step} {i}",
                        ),
                        PASSWORD,
                        actor_id=admin_id,
                    )
                s.commit()
                role = role_service.create(s, f"operator-{step}", None, "", actor_id=admin_id)
                role_service.grant(s, role, f"asn{step}x0", actor_id=admin_id)
                disable_user(s, f"asn{step}x1", actor_id=admin_id)
                s.commit()

        for step in range(3):
            admin_work(step)
            admin_signs_in(provider.url, totp)
            failed_login(provider.url, f"asn{step}x2")
        # Kill while the sender is busy: the receiver has taken a message but not answered
        # yet (the provider never records it: it must send it again), others are not sent.
        wait_until(lambda: receiver.deliveries > 0, 60, "the first deliveries")
        receiver.delay = 5.0
        taken = receiver.deliveries
        admin_work(99)
        wait_until(lambda: receiver.deliveries > taken, 60, "a delivery in flight")
        provider.kill()
        receiver.delay = 0.05
        for step in range(3, 5):  # the session goes on while the provider is down
            admin_work(step)
        provider.start().wait_ready(90)
        for step in range(5, 7):
            admin_work(step)
            admin_signs_in(provider.url, totp)
            failed_login(provider.url, f"asn{step}x2")

        with rt.sessions() as s:
            sub = s.get(WebhookSubscription, made.subscription.id)
            assert sub is not None
            rows = s.scalars(
                select(AuditEvent)
                .where(AuditEvent.created_at >= sub.created_at)
                .order_by(AuditEvent.id)
            ).all()
            expected = sorted((r.event, r.target_id or "", r.created_at.isoformat()) for r in rows)
        assert len(expected) > 50

        def got() -> list[tuple[str, str, str]]:
            with receiver.lock:
                return sorted(
                    (m["type"], (m["data"]["target"] or {}).get("id") or "", m["timestamp"])
                    for m in receiver.messages.values()
                )

        wait_until(lambda: len(got()) >= len(expected), 120, "every event at the receiver")
        assert receiver.bad_signatures == 0
        assert got() == expected
        assert receiver.deliveries > len(receiver.messages)  # at least once: some came twice
        names = {e[0] for e in expected}
        assert {
            "user.created",
            "user.disabled",
            "user.login",
            "user.login_failed",
            "agency.created",
            "role.created",
            "role.granted",
        } <= names
    finally:
        if provider is not None:
            provider.stop()
        rt.dispose()
        receiver.close()
