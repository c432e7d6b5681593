"""Configuration as code for upstream identity providers and webhook subscriptions: their
secrets as ${ENV_NAME} references, compared with what is stored (encrypted) and replaced when
they differ; upstreams are never pruned, webhooks are."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from sso.db.models import UpstreamProvider, WebhookSubscription
from sso.federation import registry
from sso.runtime import Runtime
from sso.webhooks import subscriptions
from tests.config.helpers import Run, config_events, export, write
from tests.conftest import _empty_all_tables

GOOGLE_SECRET = "google-client-secret-value"
HOOK_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def seed(runtime: Runtime) -> str:
    with runtime.sessions() as s:
        registry.create(
            s,
            runtime.settings,
            runtime.encryptor,
            registry.UpstreamSpec(
                slug="google",
                name="Google",
                issuer="https://accounts.google.com",
                client_id="123.apps.googleusercontent.com",
                client_secret=GOOGLE_SECRET,
                preset="google",
            ),
            actor_id="test",
        )
        registry.create(
            s,
            runtime.settings,
            runtime.encryptor,
            registry.UpstreamSpec(
                slug="inapas",
                name="INApas",
                issuer="https://inapas.example.id",
                client_id="tangsel",
                client_secret="inapas-secret",
                preset="inapas",
                accounts="all",
                staff_match="nip",
                staff_claim="nip",
            ),
            actor_id="test",
        )
        registry.disable(s, "inapas", actor_id="test")
        made = subscriptions.create(
            s,
            runtime.settings,
            runtime.encryptor,
            url="https://siem.example.id/hook",
            event_types=["user.login_failed", "client.*"],
            description="SOC",
            actor_id="test",
        )
        subscriptions.pause(s, made.subscription.id, actor_id="test")
        s.commit()
        return made.subscription.id


def test_round_trip_and_secrets(runtime: Runtime, sso: Run, db: Any, tmp_path: Path) -> None:
    hook_id = seed(runtime)
    env = {"UPSTREAM_SECRET_GOOGLE": GOOGLE_SECRET, "UPSTREAM_SECRET_INAPAS": "inapas-secret"}
    path, first = export(sso, tmp_path)
    doc = yaml.safe_load(first)
    assert [u["slug"] for u in doc["upstreams"]] == ["google", "inapas"]
    assert doc["upstreams"][1]["enabled"] is False
    assert doc["upstreams"][0]["secret"] == "${UPSTREAM_SECRET_GOOGLE}"
    hook = doc["webhooks"][0]
    assert (hook["id"], hook["status"]) == (hook_id, "paused")
    variable = hook["secret"][2:-1]
    assert GOOGLE_SECRET not in first and "inapas-secret" not in first

    # The stored secrets are what the variables hold: nothing to change.
    with runtime.sessions() as s:
        sub = s.get(WebhookSubscription, hook_id)
        assert sub is not None
        stored_hook_secret = runtime.encryptor.decrypt(sub.secret_encrypted)
    env[variable] = stored_hook_secret
    result = sso("config", "apply", str(path), extra_env=env)
    assert result.exit_code == 0 and result.stdout.strip() == "No changes.", result.output

    _empty_all_tables(runtime)
    env[variable] = HOOK_SECRET
    result = sso("config", "apply", str(path), extra_env=env)
    assert result.exit_code == 0, result.output
    assert "+ upstream google (Google)" in result.stdout and "+ webhook" in result.stdout
    assert export(sso, tmp_path, "again.yaml")[1] == first
    with runtime.sessions() as s:
        google = s.scalar(select(UpstreamProvider).where(UpstreamProvider.slug == "google"))
        assert google is not None
        assert registry.client_secret(runtime.encryptor, google) == GOOGLE_SECRET
        sub = s.get(WebhookSubscription, hook_id)
        assert sub is not None and runtime.encryptor.decrypt(sub.secret_encrypted) == HOOK_SECRET
    assert sso("config", "apply", str(path), extra_env=env).stdout.strip() == "No changes."

    # A new value replaces the stored secret; the plan names the variable, never the value.
    env["UPSTREAM_SECRET_GOOGLE"] = "a-rotated-google-secret"
    result = sso("config", "apply", str(path), extra_env=env)
    assert "~ upstream google (Google)" in result.stdout
    assert "(stored secret) -> ${UPSTREAM_SECRET_GOOGLE}" in result.stdout
    assert "a-rotated-google-secret" not in result.output
    assert {"upstream.updated", "upstream.created", "webhook.created", "webhook.paused"} <= {
        e.event for e in config_events(db)
    }

    # --prune deletes the webhook left out, never an upstream.
    doc["upstreams"], doc["webhooks"] = [], []
    write(path, doc)
    result = sso("config", "apply", str(path), "--prune", extra_env=env)
    assert result.exit_code == 0, result.output
    assert f"- webhook {hook_id}" in result.stdout and "upstream" not in result.stdout
    db.expire_all()
    assert db.scalars(select(WebhookSubscription)).all() == []
    assert len(db.scalars(select(UpstreamProvider)).all()) == 2


def test_bad_entries(runtime: Runtime, sso: Run, db: Any, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        {
            "version": 1,
            "upstreams": [
                {
                    "slug": "corp",
                    "name": "Corp",
                    "issuer": "https://id.corp.example",
                    "client_id": "x",
                    "secret": "${CORP_SECRET}",
                    "accounts": "everyone",
                }
            ],
            "webhooks": [
                {
                    "id": "soc",
                    "url": "https://soc.example.id/",
                    "event_types": ["login.failed"],
                    "secret": "${SOC_SECRET}",
                },
                {
                    "id": "audit",
                    "url": "https://audit.example.id/",
                    "event_types": ["login.failed"],
                    "secret": "${AUDIT_SECRET}",
                },
                {"id": "siem", "url": "https://siem.example.id/", "event_types": ["user.*"]},
            ],
        },
    )
    result = sso(
        "config",
        "apply",
        str(path),
        extra_env={"SOC_SECRET": "not-whsec", "AUDIT_SECRET": HOOK_SECRET},
    )
    assert result.exit_code == 1
    err = result.stderr
    for expected in (
        "upstreams[0].secret: environment variable CORP_SECRET is not set",
        "upstreams[0].accounts: 'everyone' is not one of",
        "webhook soc (https://soc.example.id/): a given webhook secret is whsec_",
        "webhook audit (https://audit.example.id/): unknown event type 'login.failed'",
        "webhook siem (https://siem.example.id/): a new webhook needs secret",
    ):
        assert expected in err, (expected, err)
    db.expire_all()
    assert db.scalars(select(WebhookSubscription)).all() == []
