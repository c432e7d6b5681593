from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sso.core.events import RequestContext, request_context
from sso.core.logging import REDACTED, build_handler, configure_logging, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /callback?code=abc123&state=xyz", "abc123"),
        ("form: username=budi&password=hunter2", "hunter2"),
        ('body {"client_secret": "s3cr3t-value", "grant_type": "x"}', "s3cr3t-value"),
        ("{'refresh_token': 'opaque-1', 'scope': 'openid'}", "opaque-1"),
        ("code_verifier=verif123&code_challenge_method=S256", "verif123"),
        ("client_assertion=header.body.sig&client_id=a", "header.body.sig"),
        ("id_token_hint=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "eyJzdWIiOiJ4In0"),
        ("Authorization: Bearer eyJabc.eyJdef.ghi", "eyJdef"),
        ("Cookie: sso_session=tsso_ss_abcdef; lang=id", "tsso_ss_abcdef"),
        ("leaked tsso_rt_AbCdEf123 in a message", "tsso_rt_AbCdEf123"),
        ("NIK=3674012345678901", "3674012345678901"),
        ("nik 3674012345678901 of a resident", "3674012345678901"),
        ("SSO_SECRET_KEY='abc def'", "abc def"),
        ("access_token=at-1&token_type=Bearer", "at-1"),
    ],
)
def test_redact_masks_secrets(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert REDACTED in masked


def test_redact_keeps_what_is_not_secret() -> None:
    text = "GET /authorize?state=xyz&client_id=portal&code_challenge_method=S256 status_code=200"
    assert redact(text) == text
    assert redact("token_type=Bearer") == "token_type=Bearer"


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = build_handler(json=True, stream=stream)
    logger = logging.getLogger("tests.web.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_request_id_and_extra_fields(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_log
    token = request_context.set(RequestContext(request_id="req-42"))
    try:
        logger.info("user %s signed in", "budi", extra={"client_id": "portal", "attempt": 2})
    finally:
        request_context.reset(token)
    (entry,) = lines(stream)
    assert entry["message"] == "user budi signed in"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "tests.web.redaction"
    assert entry["request_id"] == "req-42"
    assert entry["client_id"] == "portal" and entry["attempt"] == 2
    assert str(entry["time"]).endswith("+00:00")


def test_no_secret_reaches_a_log_line(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_log
    logger.info("redirect to https://rp.example/cb?code=%s&state=s1", "the-code")
    logger.info("token request %s", {"client_secret": "cs-value", "password": "pw-value"})
    logger.warning("login failed", extra={"password": "pw-extra", "form": {"code": "c-extra"}})
    try:
        raise ValueError("bad client_secret=cs-in-exception")
    except ValueError:
        logger.exception("boom")
    text = stream.getvalue()
    for secret in ("the-code", "cs-value", "pw-value", "pw-extra", "c-extra", "cs-in-exception"):
        assert secret not in text
    entries = lines(stream)
    assert entries[0]["message"] == "redirect to https://rp.example/cb?code=[redacted]&state=s1"
    assert entries[2]["password"] == REDACTED
    assert "Traceback" in str(entries[3]["exc"])


def test_configure_logging_installs_one_redacting_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        configure_logging("warning", json=True)
        configure_logging("info", json=False)
        ours = [h for h in root.handlers if h.get_name() == "sso"]
        assert len(ours) == 1 and root.handlers[0] is ours[0]
        assert root.level == logging.INFO
        assert logging.getLogger("uvicorn.access").level == logging.WARNING
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
        logging.getLogger("uvicorn.access").setLevel(logging.NOTSET)


@pytest.mark.parametrize("as_json", [False, True])
def test_uvicorns_colour_copy_of_a_message_is_not_written(as_json: bool) -> None:
    """uvicorn logs its lines with extra={"color_message": <the message in ANSI colours>}."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.web.uvicorn_like")
    logger.propagate = False
    logger.addHandler(build_handler(json=as_json, stream=stream))
    logger.setLevel(logging.INFO)
    try:
        logger.info(
            "Uvicorn running on %s://%s:%d (Press CTRL+C to quit)",
            "http",
            "127.0.0.1",
            8090,
            extra={"color_message": "Uvicorn running on \x1b[1m%s://%s:%d\x1b[0m (Press CTRL+C)"},
        )
    finally:
        logger.handlers.clear()
        logger.propagate = True
    text = stream.getvalue()
    assert "Uvicorn running on http://127.0.0.1:8090" in text
    assert "color_message" not in text and "\x1b" not in text and "\\u001b" not in text
