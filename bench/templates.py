"""Seeded databases kept between bench runs, so a second ``make bench`` skips the seeding.

After a run seeds the 1,000-citizen database (clients, keys, citizens) and the
1,000,000-citizen one, it copies each into a template database (``CREATE DATABASE …
TEMPLATE``, a file-level copy that takes seconds) named after a **key**: a hash of every
migration file, the seeding SQL and the sizes. The next run whose key matches starts from
copies of those templates instead of seeding; any change to a migration (even to one not yet
released, whose revision id stays the same) or to the seeding gives a new key, and templates
of other keys are dropped at the start of a run.

The values that the seeded rows depend on (the secret key of the keyed hashes, the key
encryption key of the signing keys, the clients and their secrets, all random per seeding and
good only for these throw-away databases) are kept next to it in ``bench/.cache/`` (mode 0600,
git-ignored). ``--fresh-seed`` ignores and replaces the templates.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
MIGRATIONS = BENCH.parent / "migrations" / "versions"
PREFIX = "sso_bench_tpl_"


def template_key(*parts: object) -> str:
    """A short hash of the migrations and of ``parts`` (seeding SQL, sizes, …)."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for part in parts:
        digest.update(repr(part).encode() + b"\0")
    return digest.hexdigest()[:12]


def name(key: str, kind: str) -> str:
    return f"{PREFIX}{key}_{kind}"


def existing(conn: Any) -> set[str]:
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)
    ).fetchall()
    return {r[0] for r in rows}


def drop_stale(conn: Any, key: str) -> list[str]:
    """Drop templates (and their saved values) of any other key; returns the names dropped."""
    dropped = []
    for db in sorted(existing(conn)):
        if not db.startswith(PREFIX + key + "_"):
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            dropped.append(db)
    for path in CACHE.glob("template-*.json"):
        if path.name != f"template-{key}.json":
            path.unlink(missing_ok=True)
    return dropped


def drop_key(conn: Any, key: str) -> list[str]:
    """Drop every template of ``key``: done before seeding afresh, because the 1,000,000
    template is grown from the 1,000 one and shares its secrets (a clean clone has no saved
    values, seeds the base again with new ones, and must not copy the old 1M template)."""
    dropped = []
    for db in sorted(existing(conn)):
        if db.startswith(PREFIX + key + "_"):
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            dropped.append(db)
    return dropped


def load_values(key: str) -> dict[str, Any] | None:
    path = CACHE / f"template-{key}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if data.get("key") == key else None


def save_values(key: str, values: dict[str, Any]) -> None:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"template-{key}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({**values, "key": key}, f)


def make(conn: Any, source: str, template: str) -> None:
    """Copy ``source`` (nothing may be connected to it) into ``template``."""
    conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{template}" TEMPLATE "{source}"')
