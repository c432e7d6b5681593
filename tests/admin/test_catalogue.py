"""Every admin text exists in both languages, including the keys templates build from a value
(``_('admin.status.%s'|format(user.status))``)."""

from __future__ import annotations

import re
from pathlib import Path

from sso.admin.access import PERMISSIONS  # noqa: F401 (the module must import cleanly)
from sso.admin.views import ALIASES, DONE_KEYS
from sso.web.i18n import catalogue

TEMPLATES = Path(__file__).resolve().parents[2] / "sso" / "admin" / "templates" / "admin"
DYNAMIC = {
    "admin.status.%s": ("active", "disabled"),
    "admin.kind.%s": ("staff", "citizen"),
    "admin.client.status.%s": ("pending", "active", "disabled", "rejected"),
    "admin.client.%s": ("approve", "reject"),
    "admin.import.status.%s": ("validating", "validated", "applying", "applied", "failed"),
    "admin.import.count.%s": ("create", "change", "unchanged", "refuse"),
    "admin.activation.status.%s": ("preparing", "sending", "sent"),
    "admin.keys.state.%s": ("next", "active", "retired"),
    "admin.dashboard.%s": ("staff", "citizens", "clients", "sessions"),
    "admin.users.field.%s": ("auto", "name", "username", "email", "nip"),
    "admin.secret.%s": ("client", "token"),
    "admin.people.tab.%s": ("details", "credentials", "roles", "sessions", "apps", "events"),
    "admin.people.sort.%s": ("name", "-name", "created", "-created", "last_login", "-last_login"),
}


def test_every_admin_key_exists_in_both_languages() -> None:
    ids, ens = catalogue("id"), catalogue("en")
    admin_ids = {k for k in ids if k.startswith("admin.")}
    assert admin_ids == {k for k in ens if k.startswith("admin.")}
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        used |= set(re.findall(r"_\('(admin\.[a-z0-9_.]+)'\)", text))
        for pattern in re.findall(r"_\('(admin\.[a-z_.]+\.%s)'\|format", text):
            assert pattern in DYNAMIC, pattern
            used |= {pattern % value for value in DYNAMIC[pattern]}
    used |= {f"admin.done.{k}" for k in DONE_KEYS} | set(ALIASES.values())
    assert used - admin_ids == set()
