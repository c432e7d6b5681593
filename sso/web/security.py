"""Browser-facing protections: security headers and CSRF for our own forms.

Headers (:func:`security_headers`): pages can never be framed (``frame-ancestors 'none'`` and
``X-Frame-Options: DENY``), scripts run only from our origin or with the per-response nonce,
and no URL (which may carry a code or a state) leaks through ``Referer``. Pages rendered by
templates get them with their nonce; every other response (JSON, redirects, 404s, static
files) gets them from the request middleware (:func:`apply_baseline_headers`), with a CSP that
loads nothing for non-HTML bodies, and HSTS (one year) when the issuer is https.

Cookies (:func:`cookie_name`): over https every cookie of ours is ``__Host-``-prefixed,
``Secure``, ``Path=/`` and without ``Domain``; readers look only at that name.

``form-action`` allows ``https:`` and ``http:`` besides ``'self'``: Chromium applies
``form-action`` to the redirects that follow a form submission, and our login, consent and
logout forms end in a redirect to a relying party (any https origin, or an http loopback for
native apps, RFC 8252); the ``form_post`` response mode posts to the RP directly. A native app's
private-use scheme (``com.example.app:``) is added per response with ``form_action=``.

CSRF (signed double-submit cookie, OWASP's recommended stateless pattern): each browser gets a
random ``sso_csrf`` cookie (``__Host-sso_csrf`` over https, so a sibling subdomain cannot plant
one); the form token is HMAC-SHA-256 of that value under ``SSO_SECRET_KEY``. An attacker can
neither read the cookie nor compute the token. On top of it, :func:`is_cross_site` refuses a
POST whose ``Sec-Fetch-Site`` or ``Origin`` shows it came from another site.

Use from a route::

    token = csrf.token_for(request)            # while rendering; render() sets the cookie
    csrf.verify(request, form)                 # on POST; raises CSRFError (-> 403 page)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import Response

from sso.config import Settings
from sso.core.crypto import constant_time_equals, keyed_hash, random_token
from sso.core.errors import DomainError

CSRF_COOKIE = "sso_csrf"
CSRF_COOKIE_SECURE = "__Host-sso_csrf"  # cookie_name(https settings, CSRF_COOKIE)
CSRF_FIELD = "csrf_token"
_CSRF_PURPOSE = "csrf"
_STATE_NEW_COOKIE = "sso_csrf_new_cookie"

FORM_ACTION_SOURCES: tuple[str, ...] = ("'self'", "https:", "http:")
REFERRER_POLICY = "no-referrer"


HOST_PREFIX = "__Host-"
HSTS = "max-age=31536000; includeSubDomains"
# Headers every response gets (pages, JSON, redirects, errors, static files): the middleware
# (``sso.web.middleware``) adds whichever a response does not set itself.
BASELINE_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", REFERRER_POLICY),
)
# For responses that are not HTML (JSON, images, CSS, redirects): nothing may load from them,
# nothing may frame them (a JSON error rendered by a browser included).
NON_HTML_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def cookie_name(settings: Settings | None, base: str) -> str:
    """``__Host-<base>`` when the issuer is https, else ``base``.

    A ``__Host-`` cookie is only accepted by a browser with ``Secure``, ``Path=/`` and no
    ``Domain``, so a sibling subdomain (or a network attacker on plain http) cannot plant or
    overwrite it. Readers ask for this name only: an unprefixed cookie of the same base name is
    ignored over https."""
    return HOST_PREFIX + base if settings is not None and settings.cookie_secure else base


def settings_of(request: HTTPConnection) -> Settings | None:
    app = request.scope.get("app")
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    settings: Settings | None = getattr(runtime, "settings", None)
    return settings


def read_cookie(request: HTTPConnection, base: str) -> str | None:
    """The value of our cookie ``base`` under this deployment's name (see :func:`cookie_name`)."""
    return request.cookies.get(cookie_name(settings_of(request), base))


def clear_cookie(request: HTTPConnection, response: Response, base: str) -> None:
    """Delete our cookie ``base`` (with the attributes a ``__Host-`` deletion needs)."""
    settings = settings_of(request)
    secure = settings is not None and settings.cookie_secure
    response.delete_cookie(
        cookie_name(settings, base), path="/", secure=secure, httponly=True, samesite="lax"
    )


def apply_baseline_headers(headers: MutableHeaders, *, hsts: bool) -> None:
    """Add the headers every response needs unless the response set them itself."""
    for name, value in BASELINE_HEADERS:
        headers.setdefault(name, value)
    if "content-security-policy" not in headers:
        html = headers.get("content-type", "").startswith("text/html")
        headers["Content-Security-Policy"] = content_security_policy() if html else NON_HTML_CSP
    if hsts:
        headers.setdefault("Strict-Transport-Security", HSTS)


def content_security_policy(nonce: str | None = None, form_action: Iterable[str] = ()) -> str:
    scripts = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    targets = " ".join(dict.fromkeys([*FORM_ACTION_SOURCES, *form_action]))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            f"form-action {targets}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


def security_headers(
    nonce: str | None = None, *, form_action: Iterable[str] = ()
) -> dict[str, str]:
    """Headers for every HTML page (and harmless on JSON)."""
    return {
        "Content-Security-Policy": content_security_policy(nonce, form_action),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": REFERRER_POLICY,
    }


# ----------------------------------------------------------------------------- CSRF


class CSRFError(DomainError):
    """A form POST without a valid CSRF token, or from another site (rendered as a 403 page)."""

    status_code = 403
    error = "access_denied"

    def __init__(self, reason: str) -> None:
        super().__init__("error.csrf", detail=f"csrf check failed: {reason}")
        self.reason = reason


def _settings(request: HTTPConnection) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def csrf_cookie_name(settings: Settings) -> str:
    return cookie_name(settings, CSRF_COOKIE)


def _token_for_cookie(settings: Settings, cookie_value: str) -> str:
    return keyed_hash(settings.secret_key_bytes(), cookie_value, _CSRF_PURPOSE)


def _browser_cookie(request: HTTPConnection, settings: Settings) -> str | None:
    value = request.cookies.get(csrf_cookie_name(settings))
    # Our values are 43 url-safe characters; refuse anything odd rather than hash it.
    if value and 16 <= len(value) <= 128 and value.replace("-", "").replace("_", "").isalnum():
        return value
    return None


def issue_csrf(request: HTTPConnection, set_cookie: Callable[..., Any] | None = None) -> str:
    """The CSRF token for this browser, making its cookie when it has none.

    A new cookie is remembered on ``request.state`` (so two forms in one response share it)
    and handed to ``set_cookie`` (e.g. ``response.set_cookie``) when given; otherwise
    :func:`sso.web.templating.render` (or :func:`apply_csrf_cookie`) sets it on the response.
    """
    settings = _settings(request)
    value = _browser_cookie(request, settings) or getattr(request.state, _STATE_NEW_COOKIE, None)
    if value is None:
        value = random_token()
        setattr(request.state, _STATE_NEW_COOKIE, value)
        if set_cookie is not None:
            set_cookie(**_cookie_kwargs(settings, value))
    return _token_for_cookie(settings, value)


def _cookie_kwargs(settings: Settings, value: str) -> dict[str, Any]:
    # A session cookie: it holds nothing but randomness, and a new browser session simply
    # gets a new one the next time a form is shown.
    return {
        "key": csrf_cookie_name(settings),
        "value": value,
        "path": "/",
        "secure": settings.cookie_secure,
        "httponly": True,
        "samesite": "lax",
    }


def apply_csrf_cookie(request: HTTPConnection, response: Response) -> None:
    """Set the cookie :func:`issue_csrf` made during this request (if any) on ``response``."""
    value = getattr(request.state, _STATE_NEW_COOKIE, None)
    if value:
        response.set_cookie(**_cookie_kwargs(_settings(request), value))


def check_csrf(request: HTTPConnection, submitted: str | None) -> bool:
    """True when ``submitted`` is the token for this browser's cookie (constant time)."""
    if not submitted or len(submitted) > 256:
        return False
    settings = _settings(request)
    value = _browser_cookie(request, settings)
    if value is None:
        return False
    return constant_time_equals(_token_for_cookie(settings, value), submitted)


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    return (parts.scheme.lower(), parts.hostname.lower(), port or default)


def is_cross_site(request: HTTPConnection) -> bool:
    """True when the browser says this request was made by another site.

    ``Sec-Fetch-Site`` is trusted when present (every current browser sends it): ``cross-site``
    and ``same-site`` (a sibling subdomain) are refused, since our own forms always post
    ``same-origin``. Otherwise an ``Origin`` must be our issuer's or this host's. ``Origin:
    null`` is not evidence of anything: browsers send it for every form POST from a page with
    ``Referrer-Policy: no-referrer`` (ours), so it is left to the token check.
    """
    fetch_site = request.headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site:
        return fetch_site in ("cross-site", "same-site")
    origin = request.headers.get("origin", "").strip()
    if not origin or origin == "null":
        return False
    theirs = _origin(origin)
    if theirs is None:
        return True
    ours = {_origin(_settings(request).issuer_url), _origin(str(request.base_url))}
    return theirs not in ours


class CSRF:
    """The route-facing API: ``csrf.token_for(request)`` and ``csrf.verify(request, form)``."""

    field = CSRF_FIELD

    def token_for(self, request: HTTPConnection) -> str:
        return issue_csrf(request)

    def verify(self, request: HTTPConnection, form: Mapping[str, Any] | str | None) -> None:
        """Raise :class:`CSRFError` unless the POST is same-site and carries a valid token.

        ``form`` is the submitted form (``await request.form()``, a dict) or the token itself.
        """
        if is_cross_site(request):
            raise CSRFError("cross-site request")
        submitted = form.get(CSRF_FIELD) if isinstance(form, Mapping) else form
        if not isinstance(submitted, str) or not check_csrf(request, submitted):
            raise CSRFError("missing or invalid token")


csrf = CSRF()
