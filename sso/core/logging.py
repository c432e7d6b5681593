"""Logging: one handler on the root logger, text or JSON lines, and redaction of secrets.

Every record passes a :class:`RedactionFilter` on the handler before it is formatted, so no
password, client secret, code, token, assertion, cookie or NIK reaches a log line, whether it
sits in the message (``code=abc`` in a URL, ``"client_secret": "…"`` in a dumped body, an
``Authorization:`` header), in an ``extra={…}`` field, or in a traceback. Tokens we issue carry
recognisable prefixes (:data:`sso.core.crypto.PREFIXES`) and JWTs start with ``eyJ``: both are
masked wherever they appear, even without a telling key name.
"""

from __future__ import annotations

import datetime as dt
import json as jsonlib
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

from sso.core.crypto import PREFIXES
from sso.core.events import request_context

REDACTED = "[redacted]"

# A key is sensitive when its last component (after `_`, `-` or `.`) is one of these words, or
# when it is one of the longer names; `client_secret`, `new_password`, `csrf_token`,
# `logout_token`, `SSO_SECRET_KEY`... all match. `status_code` is allowed through on purpose.
_SENSITIVE_WORDS = (
    "code_verifier|client_assertion|id_token_hint|set-cookie|proxy-authorization|api_key|"
    "password|passwd|secret|secret_key|token|code|assertion|nik|authorization|cookie"
)
_KEY = rf"(?:[A-Za-z0-9]+[_.-])*?(?:{_SENSITIVE_WORDS})"
_ALLOWED_KEYS = frozenset({"status_code", "http_status_code"})

# `key=value`, `key: value`, `"key": "value"`, `'key': 'value'`, `key="value"`.
_PAIR = re.compile(
    rf"""(?P<lead>(?<![\w.-])(?P<q>["']?)(?P<key>{_KEY})(?P=q)\s*[:=]\s*)"""
    r"""(?P<val>\[redacted\]|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s&;,)}\]"']+)""",
    re.IGNORECASE,
)
# Header lines carry several words and `;`-separated cookies: mask to the end of the line.
_HEADER = re.compile(
    r"(?P<lead>(?<![\w-])(?:proxy-authorization|authorization|set-cookie|cookie)\s*:\s*)"
    r"(?![\"'\s])(?P<val>[^\r\n]+)",
    re.IGNORECASE,
)
# `Bearer <token>` anywhere (but not `Bearer access_token=…`, a key the rule above handles).
_AUTH_SCHEME = re.compile(
    r"\b(?P<lead>(?:Bearer|Basic|DPoP)\s+)(?![a-z_]+=)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE
)
_PREFIXED = re.compile(
    "(?:" + "|".join(re.escape(p) for p in sorted(PREFIXES.values())) + r")[A-Za-z0-9_-]+"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# A NIK (national identity number) is 16 digits; mask any free-standing 16-digit number.
_NIK = re.compile(r"(?<![\d.])\d{16}(?![\d.])")

_SENSITIVE_KEY = re.compile(rf"^{_KEY}$", re.IGNORECASE)

# Attributes every LogRecord has; anything else came in through `extra=`. `color_message` is
# uvicorn's copy of its message with ANSI colour codes for its own terminal formatter: the
# message itself is already in the line, and escape codes have no place in a log file.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
    "color_message",
}


def is_sensitive_key(key: str) -> bool:
    return key.lower() not in _ALLOWED_KEYS and bool(_SENSITIVE_KEY.match(key))


def _mask_pair(match: re.Match[str]) -> str:
    if match.group("key").lower() in _ALLOWED_KEYS:
        return match.group(0)
    value = match.group("val")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('lead')}{quote}{REDACTED}{quote}"


def redact(text: str) -> str:
    """``text`` with every secret we can recognise replaced by ``[redacted]``."""
    text = _HEADER.sub(lambda m: m.group("lead") + REDACTED, text)
    text = _PAIR.sub(_mask_pair, text)
    text = _AUTH_SCHEME.sub(lambda m: m.group("lead") + REDACTED, text)
    text = _PREFIXED.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    return _NIK.sub(REDACTED, text)


def redact_value(key: str, value: Any) -> Any:
    """An ``extra`` field's value, masked by its key name or its content."""
    if is_sensitive_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value("", v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


class RedactionFilter(logging.Filter):
    """Masks secrets in the message, the ``extra`` fields and the traceback of every record.

    Installed on the handler (handler filters see records propagated from every logger). The
    record is changed in place, so handlers that run after this one see the masked text too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, redact_value(key, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (from the request context) to records that do not carry one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_context.get().request_id
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_context.get().request_id,
        }
        for key, value in _extras(record).items():
            entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return jsonlib.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message key=value…`` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", None):
            record.request_id = request_context.get().request_id
        line = super().format(record)
        # Fields the message already shows as a word (the access line's method, path, status)
        # are not repeated.
        words = set(record.getMessage().split())
        extras = {k: v for k, v in _extras(record).items() if str(v) not in words}
        if extras:
            fields = " ".join(f"{k}={v}" for k, v in extras.items())
            head, sep, tail = line.partition("\n")
            line = f"{head} {fields}{sep}{tail}"
        return line


def build_handler(json: bool, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactionFilter())
    handler.set_name("sso")
    return handler


def configure_logging(level: str, json: bool) -> None:
    """Send every log record through one redacting handler on the root logger.

    Idempotent: a second call replaces the handler. Uvicorn's loggers lose their own handlers
    and propagate here, so their lines are redacted too; ``uvicorn.access`` is silenced because
    it writes the query string (codes, states) and :mod:`sso.web.middleware` writes our own
    access line without it.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "sso":
            root.removeHandler(existing)
    # First in line: the record is masked in place before any other handler (a test's log
    # capture, an operator's extra handler) sees it.
    root.handlers.insert(0, build_handler(json))
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.captureWarnings(True)
