"""Short, working integration examples for one app, filled with its real values.

By language, as the portal's tabs show them: Python (Authlib), PHP (Laravel Socialite with a small
provider of its own, and league/oauth2-client's ``GenericProvider``), JavaScript (Node.js with
openid-client v6, a browser app with oauth4webapi) and curl. Which ones an app gets follows its
kind: a web app all the server-side ones, a single-page app the browser one, a native app Python,
Node and curl, a machine app the client-credentials ones.

Every value is written as a literal of its language (a JSON string for Python and JavaScript,
which is valid there whatever characters it holds; a single-quoted string for PHP; ``shlex.quote``
for the shell), and the app's name, which is free text, only ever appears in a comment with every
line break and control character taken out (and PHP's ``?>`` broken up), so no value can end a
string or a comment early. The secret is never in an example: it is read from the environment
(``TANGSEL_CLIENT_SECRET``), because it is shown once and kept by its owner.
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from sso.db.models import Client
from sso.developers.snippets import javascript, php, python, shell

LANGUAGES = ("python", "php", "javascript", "curl")
_PLACEHOLDER = re.compile(r"%%([A-Z_]+)%%")
_SECRET_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class ExampleFile:
    name: str  # where the file goes ("" when the example is one file)
    syntax: str  # python, php, javascript or shell: what checks it
    code: str


@dataclass(frozen=True)
class Example:
    key: str  # python, laravel, league, node, browser, curl (also the element ids)
    language: str  # one of LANGUAGES: the tab it is shown under
    files: tuple[ExampleFile, ...]


def comment_text(value: str) -> str:
    """``value`` made safe inside a one-line comment of any of the languages: whitespace
    (line breaks, U+2028 …) collapsed, control and format characters (bidi overrides) dropped,
    and ``?>`` (which ends PHP even inside a comment) broken up."""
    kept = "".join(c for c in value if unicodedata.category(c)[0] != "C" or c.isspace())
    return " ".join(kept.split()).replace("?>", "? >")[:200]


def _js(value: str) -> str:
    return json.dumps(value)


def _php(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _php_list(values: list[str]) -> str:
    return "[" + ", ".join(_php(v) for v in values) + "]"


def _fill(template: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(replace, template)


@dataclass(frozen=True)
class _App:
    """The values an example needs, unquoted."""

    name: str
    issuer: str
    client_id: str
    redirect_uri: str
    scope: str
    method: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str

    @property
    def confidential(self) -> bool:
        return self.method in _SECRET_METHODS


def _python(app: _App, *, machine: bool) -> Example:
    q = _js  # a JSON string is a valid Python string literal
    values = {
        "APP_NAME": comment_text(app.name),
        "ISSUER": q(app.issuer),
        "CLIENT_ID": q(app.client_id),
        "REDIRECT_URI": q(app.redirect_uri),
        "SCOPE": q(app.scope),
        "AUTH_METHOD": q(app.method),
        "SECRET": 'os.environ["TANGSEL_CLIENT_SECRET"]' if app.confidential else "None",
    }
    code = _fill(python.MACHINE if machine else python.WEB, values)
    return Example("python", "python", (ExampleFile("", "python", code),))


def _php_values(app: _App) -> dict[str, str]:
    basic = app.method == "client_secret_basic"
    return {
        "APP_NAME": comment_text(app.name),
        "CLIENT_ID": _php(app.client_id),
        "REDIRECT_URI": _php(app.redirect_uri),
        "REDIRECT_PATH": _php(urlsplit(app.redirect_uri).path or "/"),
        "SCOPES_ARRAY": _php_list(app.scope.split()),
        "AUTHORIZATION_ENDPOINT": _php(app.authorization_endpoint),
        "TOKEN_ENDPOINT": _php(app.token_endpoint),
        "USERINFO_ENDPOINT": _php(app.userinfo_endpoint),
        "TOKEN_AUTH": php.LARAVEL_BASIC if basic else php.LARAVEL_POST,
        "LEAGUE_USES": php.LEAGUE_BASIC_USES if basic else "",
        "LEAGUE_COLLABORATORS": php.LEAGUE_BASIC_COLLABORATORS if basic else "",
    }


def _laravel(app: _App) -> Example:
    values = _php_values(app)
    files = (
        ExampleFile("config/services.php", "php", _fill(php.LARAVEL_CONFIG, values)),
        ExampleFile(
            "app/Socialite/TangselProvider.php", "php", _fill(php.LARAVEL_PROVIDER, values)
        ),
        ExampleFile(
            "app/Providers/AppServiceProvider.php",
            "php",
            _fill(php.LARAVEL_SERVICE_PROVIDER, values),
        ),
        ExampleFile("routes/web.php", "php", _fill(php.LARAVEL_ROUTES, values)),
    )
    return Example("laravel", "php", files)


def _league(app: _App, *, machine: bool) -> Example:
    code = _fill(php.LEAGUE_MACHINE if machine else php.LEAGUE_WEB, _php_values(app))
    return Example("league", "php", (ExampleFile("", "php", code),))


def _node(app: _App, *, machine: bool) -> Example:
    auth = {
        "client_secret_basic": "client.ClientSecretBasic(process.env.TANGSEL_CLIENT_SECRET)",
        "client_secret_post": "client.ClientSecretPost(process.env.TANGSEL_CLIENT_SECRET)",
    }.get(app.method, "client.None()")
    comment = {
        "client_secret_basic": "The secret is never in code: TANGSEL_CLIENT_SECRET in the environment.",
        "client_secret_post": "The secret is never in code: TANGSEL_CLIENT_SECRET in the environment.",
    }.get(app.method, "A public client: PKCE instead of a secret.")
    values = {
        "APP_NAME": comment_text(app.name),
        "ISSUER": _js(app.issuer),
        "CLIENT_ID": _js(app.client_id),
        "REDIRECT_URI": _js(app.redirect_uri),
        "SCOPE": _js(app.scope),
        "CLIENT_AUTH": auth,
        "AUTH_COMMENT": comment,
        "NODE_OPTIONS": javascript.NODE_INSECURE if app.issuer.startswith("http:") else "",
    }
    code = _fill(javascript.NODE_MACHINE if machine else javascript.NODE_WEB, values)
    return Example("node", "javascript", (ExampleFile("", "javascript", code),))


def _browser(app: _App) -> Example:
    insecure = app.issuer.startswith("http:")
    values = {
        "APP_NAME": comment_text(app.name),
        "ISSUER": _js(app.issuer),
        "CLIENT_ID": _js(app.client_id),
        "REDIRECT_URI": _js(app.redirect_uri),
        "SCOPE": _js(app.scope),
        # oauth4webapi talks https only, unless told otherwise (a development deployment).
        "BROWSER_OPTIONS": "{ [oauth.allowInsecureRequests]: true }" if insecure else "{}",
    }
    code = _fill(javascript.BROWSER, values)
    return Example("browser", "javascript", (ExampleFile("", "javascript", code),))


def _curl(app: _App, *, machine: bool) -> Example:
    auth = {
        "client_secret_basic": shell.CURL_BASIC,
        "client_secret_post": shell.CURL_POST,
    }.get(app.method, shell.CURL_PUBLIC)
    authorize = (
        app.authorization_endpoint
        + "?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": app.client_id,
                "redirect_uri": app.redirect_uri,
                "scope": app.scope,
                "code_challenge_method": "S256",
            }
        )
    )
    values = {
        "APP_NAME": comment_text(app.name),
        "CLIENT_ID": shlex.quote(app.client_id),
        "REDIRECT_URI": shlex.quote(app.redirect_uri),
        "TOKEN_ENDPOINT": shlex.quote(app.token_endpoint),
        "USERINFO_ENDPOINT": shlex.quote(app.userinfo_endpoint),
        "AUTHORIZE_URL": shlex.quote(authorize),
        "AUTH_METHOD": app.method,
        "CURL_AUTH": auth,
        "SECRET_CHECK": shell.SECRET_CHECK if app.confidential else "",
    }
    code = _fill(shell.MACHINE if machine else shell.CODE_FLOW, values)
    return Example("curl", "curl", (ExampleFile("", "shell", code),))


def examples(client: Client, meta: Mapping[str, Any]) -> list[Example]:
    """The examples that fit ``client``, in tab order; ``meta`` is the provider's discovery
    document (:func:`sso.oidc.discovery.metadata`)."""
    app = _App(
        name=client.name,
        issuer=str(meta["issuer"]),
        client_id=client.client_id,
        redirect_uri=(client.redirect_uris or [""])[0],
        scope=client.scope,
        method=client.token_endpoint_auth_method,
        authorization_endpoint=str(meta["authorization_endpoint"]),
        token_endpoint=str(meta["token_endpoint"]),
        userinfo_endpoint=str(meta["userinfo_endpoint"]),
    )
    if app.method not in (*_SECRET_METHODS, "none"):  # private_key_jwt: no short example
        return []
    grants = client.grant_types or []
    kind = client.app_kind or ("spa" if client.is_public else "web")
    out: list[Example] = []
    if "authorization_code" in grants:
        if kind == "spa":
            out += [_browser(app)]
        else:
            out += [_python(app, machine=False)]
            if app.confidential:
                out += [_laravel(app), _league(app, machine=False)]
            out += [_node(app, machine=False)]
        out += [_curl(app, machine=False)]
    elif "client_credentials" in grants and app.confidential:
        out += [
            _python(app, machine=True),
            _league(app, machine=True),
            _node(app, machine=True),
            _curl(app, machine=True),
        ]
    return out


def by_language(found: list[Example]) -> list[tuple[str, list[Example]]]:
    """``found`` grouped into the portal's tabs, in :data:`LANGUAGES` order."""
    return [
        (lang, [e for e in found if e.language == lang])
        for lang in LANGUAGES
        if any(e.language == lang for e in found)
    ]
