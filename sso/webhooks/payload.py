"""The body of a webhook message, built from an outbox row (:mod:`sso.storage.webhooks`).

Standard Webhooks' shape: ``{"type": …, "timestamp": …, "data": {…}}``. ``data`` names who and
what by opaque ids only (a receiver that needs more asks the admin API, with its own rights):
never a NIK, password, secret, token, name, email address or phone number. Details of the
audit row pass only when their key is on :data:`DETAIL_KEYS` and their value is a short plain
value; a string that looks like a NIK (16 digits) never passes. The client's IP address, which
is personal data, is included only for the sign-in and security events a security operations
centre needs it for (:data:`EVENTS_WITH_IP`).

The body is the same bytes at every attempt (keys sorted, compact separators), so a receiver
may also deduplicate by content."""

from __future__ import annotations

import json
import re
from typing import Any

from sso.core.events import Event
from sso.db.models import WebhookEvent

EVENTS_WITH_IP = frozenset(
    {
        Event.USER_LOGIN,
        Event.USER_LOGIN_FAILED,
        Event.USER_REAUTH_FAILED,
        Event.MFA_FAILED,
        Event.MFA_PASSKEY_COUNTER_REGRESSED,
        Event.CLIENT_AUTH_FAILED,
        Event.ADMIN_ACCESS_DENIED,
        Event.CODE_REUSED,
        Event.REFRESH_TOKEN_REUSED,
        Event.CLIENT_LOGIN_REFUSED,
    }
)
# Keys of audit details that say what happened without saying anything personal or secret.
# ``refresh_token`` is a yes/no flag (whether one was issued), never a token.
DETAIL_KEYS = frozenset(
    {
        "kind",
        "admin",
        "reason",
        "method",
        "grant_type",
        "refresh_token",
        "grants_revoked",
        "session_id",
        "sessions_ended",
        "consents_removed",
        "fields",
        "scopes",
        "alg",
        "kid",
        "next_kid",
        "retired_kid",
        "count",
        "remaining",
        "staff_moved",
        "passkey_id",
        "totp",
        "recovery_codes",
        "passkeys",
        "amr",
        "permission",
        "agency_id",
        "assignments",
        "state",
        "import",
        "import_job_id",
        "initial_access_token_id",
        "approve_clients",
        "in_development",
        "attempts",
        "grant_id",
        "role",
        "expires_at",
        "unpublish_at",
        "subscription_id",
        "event_types",
    }
)
_NIK = re.compile(r"\d{16}")
MAX_TEXT = 200
MAX_ITEMS = 50


def _plain(value: Any) -> tuple[bool, Any]:
    if value is None or isinstance(value, bool | int | float):
        return True, value
    if isinstance(value, str):
        if len(value) > MAX_TEXT or _NIK.search(value):
            return False, None
        return True, value
    if isinstance(value, list | tuple) and len(value) <= MAX_ITEMS:
        items = [_plain(v) for v in value]
        if all(ok and not isinstance(v, list) for ok, v in items):
            return True, [v for _ok, v in items]
    return False, None


def details_of(details: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in details.items():
        if key in DETAIL_KEYS:
            ok, plain = _plain(value)
            if ok:
                kept[key] = plain
    return kept


def data_of(event: str, stored: dict[str, Any]) -> dict[str, Any]:
    """``data`` of the message for an outbox row's stored audit values."""
    data: dict[str, Any] = {
        "outcome": stored.get("outcome") or "success",
        "actor": {"type": "user", "id": stored["actor_id"]} if stored.get("actor_id") else None,
        "target": (
            {"type": stored.get("target_type"), "id": stored["target_id"]}
            if stored.get("target_id")
            else None
        ),
        "client_id": stored.get("client_id"),
        "request_id": stored.get("request_id"),
        "details": details_of(dict(stored.get("details") or {})),
    }
    if event in EVENTS_WITH_IP and stored.get("ip"):
        data["ip"] = stored["ip"]
    return data


def body(row: WebhookEvent) -> bytes:
    """The message body for ``row``: the same bytes every time."""
    stored = dict(row.payload or {})
    message = {
        "type": row.event,
        "timestamp": stored.get("occurred_at"),
        "data": data_of(row.event, stored),
    }
    return json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
