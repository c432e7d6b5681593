"""Helpers of the configuration-as-code tests: the CLI runner type, export, write, events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from typer.testing import Result

from sso.db.models import AuditEvent

PORTAL_SECRET = "portal-secret-0123456789-abcdefghijklmnop"
EVENT_SECRET = "event-secret-0123456789-abcdefghijklmnopq"
Run = Callable[..., Result]


def export(sso: Run, tmp_path: Path, name: str = "city.yaml") -> tuple[Path, str]:
    path = tmp_path / name
    result = sso("config", "export", "--output", str(path))
    assert result.exit_code == 0, result.output
    return path, path.read_text(encoding="utf-8")


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def config_events(db: Any) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.actor_id == "config-apply")))
