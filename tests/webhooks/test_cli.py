# ruff: noqa: F811  (the sso fixture of tests/test_cli.py, used as an argument)
"""``sso webhooks``: create (secret once, --json), list (--json, never a secret), disable,
enable, rotate-secret, delete; bad input is a one-line error and changes nothing."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from sso.cli import app as cli
from sso.db.models import WebhookSubscription
from tests.test_cli import Run, sso  # noqa: F401  (fixture)


def subscriptions(db: Session) -> int:
    return int(db.execute(select(func.count()).select_from(WebhookSubscription)).scalar_one())


def test_create_list_disable_enable_rotate_delete(sso: Run, db: Session) -> None:
    r = sso(
        "webhooks",
        "create",
        "--url",
        "https://soc.example.id/hooks",
        "--event",
        "user.created",
        "--event",
        "client.*",
        "--json",
    )
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    assert set(made) == {"id", "secret"} and made["secret"].startswith("whsec_")
    Webhook(made["secret"])  # a secret the Standard Webhooks library accepts
    listed = json.loads(sso("webhooks", "list", "--json").output)
    assert [(x["id"], x["events"], x["status"]) for x in listed] == [
        (made["id"], ["user.created", "client.*"], "active")
    ]
    assert made["secret"] not in sso("webhooks", "list", "--json").output
    assert sso("webhooks", "disable", made["id"]).exit_code == 0
    assert json.loads(sso("webhooks", "list", "--json").output)[0]["status"] == "paused"
    assert sso("webhooks", "enable", made["id"]).exit_code == 0
    rotated = json.loads(sso("webhooks", "rotate-secret", made["id"], "--json").output)
    assert rotated["id"] == made["id"] and rotated["secret"] != made["secret"]
    assert sso("webhooks", "delete", made["id"]).exit_code == 0
    assert subscriptions(db) == 0


def test_bad_input_is_a_one_line_error(sso: Run, db: Session) -> None:
    for args in (
        ["--url", "https://soc.example.id/h", "--event", "login.failed"],
        ["--url", "ftp://soc.example.id/h", "--event", "user.created"],
        ["--url", "https://soc.example.id/h", "--event", "user.created extra.*"],
    ):
        r = sso("webhooks", "create", *args)
        assert r.exit_code != 0 and r.output.strip().startswith("error:"), r.output
    assert sso("webhooks", "delete", "no-such-id").exit_code != 0
    assert subscriptions(db) == 0
    assert cli is not None
