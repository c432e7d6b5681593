"""The portal's integration examples: the ones an app's kind calls for, filled with its own
values (never the secret), and syntactically valid in their language whatever the values hold
(quotes, ``$``, backslashes, unicode, line breaks in the name): ``python -m py_compile``,
``node --check``, ``bash -n`` and, when PHP is installed (``php`` on the PATH, or
``SSO_TEST_PHP``), ``php -l``. Also over HTTP: the app's page shows them, escaped, and what a
developer copies from it is the same valid code."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.db.models import Client, User
from sso.developers import examples
from tests.developers.helpers import register_app

ISSUER = "https://sso.tangerangselatankota.go.id"
META = {
    "issuer": ISSUER,
    "authorization_endpoint": ISSUER + "/authorize",
    "token_endpoint": ISSUER + "/token",
    "userinfo_endpoint": ISSUER + "/userinfo",
}
AWKWARD_NAME = "Ojek \"Kota\" 'Tangsel' ?> */ \u202e日本語 Ñandú\nimport os\u2028x = 1"
AWKWARD_REDIRECT = "https://app.example.id/masuk/ñ?x='\"$(id)`{}\\&y=%%ISSUER%%"
PHP = os.environ.get("SSO_TEST_PHP") or shutil.which("php")
SUFFIX = {"python": ".py", "php": ".php", "javascript": ".mjs", "shell": ".sh"}


def checker(syntax: str) -> list[str] | None:
    """The command that checks a file of ``syntax``, or None when it is not installed."""
    node, bash = shutil.which("node"), shutil.which("bash")
    return {
        "python": [sys.executable, "-m", "py_compile"],
        "javascript": [node, "--check"] if node else None,
        "shell": [bash, "-n"] if bash else None,
        "php": [PHP, "-n", "-l"] if PHP else None,
    }[syntax]


def check_syntax(syntax: str, code: str, path: Path) -> None:
    command = checker(syntax)
    if command is None:
        pytest.skip(f"no {syntax} checker installed on this machine")
    path = path.with_suffix(SUFFIX[syntax])
    path.write_text(code, encoding="utf-8")
    done = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60)  # noqa: S603
    assert done.returncode == 0, (done.stdout, done.stderr, code)


def app(
    kind: str,
    *,
    name: str = AWKWARD_NAME,
    redirect: str = AWKWARD_REDIRECT,
    method: str | None = None,
) -> Client:
    public = kind in ("spa", "native")
    return Client(
        client_id="Zx9Tq2Lm8Kp4Rw7Yb3Nc6Vd1",
        name=name,
        app_kind=kind,
        client_type="public" if public else "confidential",
        token_endpoint_auth_method=method or ("none" if public else "client_secret_basic"),
        grant_types=["client_credentials"]
        if kind == "m2m"
        else ["authorization_code", "refresh_token"],
        redirect_uris=[] if kind == "m2m" else [redirect],
        scope="" if kind == "m2m" else "openid profile email offline_access",
    )


APPS = {
    "web": app("web"),
    "web-post": app("web", method="client_secret_post"),
    "spa": app("spa"),
    "native": app("native", redirect="http://127.0.0.1/callback"),
    "m2m": app("m2m"),
}


def test_each_kind_gets_the_examples_that_fit_it() -> None:
    keys = {name: [e.key for e in examples.examples(c, META)] for name, c in APPS.items()}
    assert keys == {
        "web": ["python", "laravel", "league", "node", "curl"],
        "web-post": ["python", "laravel", "league", "node", "curl"],
        "spa": ["browser", "curl"],
        "native": ["python", "node", "curl"],
        "m2m": ["python", "league", "node", "curl"],
    }
    tabs = examples.by_language(examples.examples(APPS["web"], META))
    assert [lang for lang, _ in tabs] == ["python", "php", "javascript", "curl"]
    assert [len(e.files) for e in examples.examples(APPS["web"], META)] == [1, 4, 1, 1, 1]


@pytest.mark.parametrize("syntax", ["python", "php", "javascript", "shell"])
def test_every_example_is_valid_code_whatever_the_values(syntax: str, tmp_path: Path) -> None:
    checked = 0
    for name, client in APPS.items():
        for example in examples.examples(client, META):
            for i, file in enumerate(example.files):
                if file.syntax == syntax:
                    check_syntax(syntax, file.code, tmp_path / f"{name}-{example.key}-{i}")
                    checked += 1
    assert checked >= 4


def test_examples_hold_the_apps_values_and_never_a_secret() -> None:
    for name, client in APPS.items():
        for example in examples.examples(client, META):
            code = "\n".join(f.code for f in example.files)
            assert client.client_id in code, (name, example.key)
            assert ISSUER in code
            assert "tsso_cs_" not in code and "%%" not in code.replace("%%ISSUER%%", "")
            if client.app_kind != "m2m":
                assert "profile" in code and "offline_access" in code
            if client.token_endpoint_auth_method != "none":
                assert "TANGSEL_CLIENT_SECRET" in code, (name, example.key)
            else:
                assert "TANGSEL_CLIENT_SECRET" not in code
            # The name is free text: it shows, but only inside one comment line.
            assert "Ñandú" in code and "日本語" in code
            assert not re.search(r"^\s*import os\u2028?x", code, re.M)
            assert "\u202e" not in code and "\u2028" not in code and "?>" not in code


def test_the_auth_method_decides_how_the_secret_is_sent() -> None:
    by_key = {
        e.key: "\n".join(f.code for f in e.files) for e in examples.examples(APPS["web"], META)
    }
    assert 'token_endpoint_auth_method="client_secret_basic"' in by_key["python"]
    assert "'Authorization' => 'Basic '" in by_key["laravel"]
    assert "HttpBasicAuthOptionProvider" in by_key["league"]
    assert "client.ClientSecretBasic(process.env.TANGSEL_CLIENT_SECRET)" in by_key["node"]
    assert '-u "$CLIENT_ID:$TANGSEL_CLIENT_SECRET"' in by_key["curl"]
    post = {
        e.key: "\n".join(f.code for f in e.files) for e in examples.examples(APPS["web-post"], META)
    }
    assert "HttpBasicAuthOptionProvider" not in post["league"]
    assert "Basic" not in post["laravel"] and "ClientSecretPost" in post["node"]
    assert "client_secret=$TANGSEL_CLIENT_SECRET" in post["curl"]
    native = {
        e.key: "\n".join(f.code for f in e.files) for e in examples.examples(APPS["native"], META)
    }
    assert "client.None()" in native["node"] and "CLIENT_SECRET = None" in native["python"]


def test_a_development_deployment_over_http_is_allowed_explicitly() -> None:
    meta = {k: v.replace("https://", "http://") for k, v in META.items()}
    by_key = {e.key: e.files[0].code for e in examples.examples(APPS["spa"], meta)}
    assert "[oauth.allowInsecureRequests]: true" in by_key["browser"]
    node = examples.examples(APPS["web"], meta)[3].files[0].code
    assert "execute: [client.allowInsecureRequests]" in node
    assert "allowInsecure" not in examples.examples(APPS["spa"], META)[0].files[0].code


CODE_RE = re.compile(r'<code id="(example-[a-z0-9-]+)">(.*?)</code>', re.S)


@pytest.mark.parametrize("kind", ["web", "spa", "m2m"])
def test_the_apps_page_shows_its_examples_with_its_values(
    http: TestClient, dewi: User, db: Session, tmp_path: Path, kind: str
) -> None:
    name = "Layanan \"Kependudukan\" <Tangsel> 'ñ' ?>"
    redirect = "https://dukcapil.example.id/cb?from='home'&x=1"
    form: dict[str, Any] = {"kind": kind, "name": name, "redirect_uris": redirect}
    if kind == "m2m":
        form.update(redirect_uris="", scopes=[])
    client_id, secret, r = register_app(http, **form)
    assert r.status_code == 200, r.text
    if secret:  # the shown-once page has a copy button for it
        assert 'data-copy="client-secret"' in r.text and 'id="client-secret"' in r.text
    page = http.get(f"/developers/apps/{client_id}")
    found = {key: html.unescape(code) for key, code in CODE_RE.findall(page.text)}
    assert found, page.text
    assert "<Tangsel>" not in page.text  # escaped
    assert secret is None or all(secret not in code for code in found.values())
    syntax = {
        "python": "python",
        "laravel": "php",
        "league": "php",
        "node": "javascript",
        "browser": "javascript",
        "curl": "shell",
    }
    for key, code in found.items():
        assert client_id in code or key.startswith("example-laravel-"), key
        if kind != "m2m" and not key.startswith("example-laravel-"):
            assert redirect.split("?")[0] in code or "dukcapil.example.id%2Fcb" in code, key
        lang = syntax[key.removeprefix("example-").split("-")[0]]
        if checker(lang) is not None:
            check_syntax(lang, code, tmp_path / key)
    # Every example block has its copy button (shown by developers.js).
    for key in found:
        assert f'data-copy="{key}"' in page.text
    assert 'data-copy="client-id"' in page.text and 'data-copy="discovery-url"' in page.text
    assert "/static/developers.js" in page.text or "developers.js" in page.text
