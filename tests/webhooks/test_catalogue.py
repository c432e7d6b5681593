"""Every text of the webhooks pages, errors and confirmations exists in both languages."""

from __future__ import annotations

import re
from pathlib import Path

from sso.web.i18n import catalogue

ROOT = Path(__file__).resolve().parents[2] / "sso"
DYNAMIC = {
    "webhooks.status.%s": ("active", "paused"),
    "webhooks.delivery.%s": ("pending", "delivered", "failed"),
    "webhooks.confirm.%s.title": ("delete", "rotate"),
    "webhooks.confirm.%s.button": ("delete", "rotate"),
}


def test_every_webhooks_key_exists_in_both_languages() -> None:
    ids, ens = catalogue("id"), catalogue("en")
    used: set[str] = {
        "admin.secret.webhook",
        "admin.done.paused",
        "admin.done.resumed",
        "admin.done.sent_again",
    }
    sources = [
        *(ROOT / "admin" / "templates" / "admin").glob("*.html"),
        ROOT / "admin" / "webhooks.py",
        ROOT / "webhooks" / "subscriptions.py",
    ]
    for path in sources:
        text = path.read_text()
        used |= set(re.findall(r"['\"]((?:admin\.)?webhooks\.[a-z_.]+[a-z])['\"]", text))
    used -= {"webhooks.manage", "admin.webhooks"}
    for pattern, values in DYNAMIC.items():
        used |= {pattern % v for v in values}
    missing = sorted(k for k in used if k not in ids or k not in ens)
    assert not missing, missing
    ours = {k for k in ids if k.startswith(("webhooks.", "admin.webhooks."))}
    assert ours == {k for k in ens if k.startswith(("webhooks.", "admin.webhooks."))}
