"""Redirect URIs: which a client may register, and which presented URI matches a registered one.

The one place for these rules (RFC 6749 §3.1.2, RFC 8252 §7–8, RFC 9700 §2.1/§4.1); the CLI, the
admin console, the developer portal, Dynamic Client Registration and ``/authorize`` all call it,
so they cannot disagree.

Registration (:func:`problem`, :func:`check`): an absolute URI, no fragment, no wildcard, no user
name or password, never a ``javascript:``/``data:``-like scheme; ``https`` for every app. A
*native* app may also use the loopback interface over ``http`` with an IP literal
(``http://127.0.0.1:port/…``, ``http://[::1]:port/…``, RFC 8252 §7.3) and a private-use scheme
in reverse-DNS form (``id.go.tangsel.app:/cb``, §7.1). ``localhost`` is refused outside a
development deployment (§8.3: the name may resolve elsewhere). In a development deployment
(``SSO_ENV=dev``) any app may also register ``http://127.0.0.1…`` / ``http://[::1]…`` /
``http://localhost…``, so a developer can try a web app on their machine. So may an app that an
admin marked as *in development* (``Client.in_development``), in any deployment: such an app
logs in only its owner and admins (:func:`sso.oauth.app_review.may_log_in`), so a loopback
URI — which any program on the person's machine could listen on — exposes nobody else.

Matching (:func:`matches`): exact string comparison. The only exception is the port of a
loopback IP redirect URI of a native app (RFC 8252 §7.3: the app listens on whatever port the
operating system gives it); a web app's loopback URI (dev) matches exactly, port included, so a
confidential client's codes cannot be caught by another program listening on a neighbouring port.

A native app is one registered as such (``app_kind == "native"``: the portal, or
``application_type: native`` in RFC 7591, which may carry an instance secret, RFC 8252 §8.5), or
a public client registered without a kind (``sso clients create --public``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from sso.core.errors import InvalidInput

MAX_LENGTH = 2000
FORBIDDEN_SCHEMES = ("javascript", "data", "vbscript", "file", "blob", "about")

# Reason → what an operator or an RFC 7591 client reads (the portal and admin console show the
# translated ``developers.error.redirect_<reason>`` instead).
REASONS = {
    "malformed": "not a valid absolute URI",
    "wildcard": "wildcards (*) are not allowed",
    "scheme_forbidden": "this scheme is not allowed",
    "fragment": "a fragment (#) is not allowed",
    "https": "must use https",
    "localhost": "use http://127.0.0.1:port or http://[::1]:port rather than localhost",
    "loopback_native": (
        "loopback http addresses are for native apps only (or apps in development, or SSO_ENV=dev)"
    ),
    "custom_scheme": "a private-use scheme must be a reversed domain name (RFC 8252 §7.1)",
}


class InvalidRedirectURI(InvalidInput):
    """A redirect URI that may not be registered; ``reason`` is a key of :data:`REASONS`."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(
            f"developers.error.redirect_{reason}",
            detail=f"redirect URI {uri[:200]!r}: {REASONS[reason]}",
            uri=uri[:200],
        )
        self.uri = uri
        self.reason = reason


def is_native(app_kind: str | None, public: bool) -> bool:
    """Whether a client is a native app (see the module documentation)."""
    return app_kind == "native" or (app_kind is None and public)


def _loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises on a bad port)
        parts.hostname  # noqa: B018  (raises on an unclosed IPv6 literal)
    except ValueError:
        return None
    return parts


def problem(uri: str, *, native: bool, dev: bool, in_development: bool = False) -> str | None:
    """Why ``uri`` may not be registered (a key of :data:`REASONS`), or None when it may.
    ``dev``: a development deployment; ``in_development``: an app an admin marked so."""
    dev = dev or in_development
    if len(uri) > MAX_LENGTH or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in uri):
        return "malformed"
    if "*" in uri:
        return "wildcard"
    parts = _split(uri)
    if parts is None:
        return "malformed"
    scheme = parts.scheme.lower()
    if scheme in FORBIDDEN_SCHEMES:
        return "scheme_forbidden"
    if "#" in uri:
        return "fragment"
    if not scheme:
        return "malformed"
    if scheme in ("http", "https"):
        host = parts.hostname or ""
        if not host or parts.username is not None or parts.password is not None:
            return "malformed"
        if scheme == "https":
            return None
        if host == "localhost":
            return None if dev else ("localhost" if native else "https")
        if not _loopback_ip(host):
            return "https"
        return None if native or dev else "loopback_native"
    if not native:
        return "https"
    if "." not in scheme:
        return "custom_scheme"
    return None


def check(uri: str, *, native: bool, dev: bool, in_development: bool = False) -> str:
    """``uri`` when it may be registered, else :class:`InvalidRedirectURI`."""
    reason = problem(uri, native=native, dev=dev, in_development=in_development)
    if reason is not None:
        raise InvalidRedirectURI(uri, reason)
    return uri


def check_all(
    uris: Iterable[str], *, native: bool, dev: bool, in_development: bool = False
) -> None:
    for uri in uris:
        check(uri, native=native, dev=dev, in_development=in_development)


def loopback_http(uris: Iterable[str]) -> list[str]:
    """The ``http`` loopback URIs among ``uris`` (those only a development deployment, an app in
    development or a native app may register)."""
    found = []
    for uri in uris:
        parts = _split(uri)
        if parts is None or parts.scheme.lower() != "http":
            continue
        host = parts.hostname or ""
        if host == "localhost" or _loopback_ip(host):
            found.append(uri)
    return found


def matches(registered: str, presented: str, *, native: bool) -> bool:
    """Exact match, except the port of a native app's loopback IP redirect URI (RFC 8252 §7.3)."""
    if registered == presented:
        return True
    if not native or "#" in presented:
        return False
    reg, pre = _split(registered), _split(presented)
    if reg is None or pre is None:  # a malformed URI matches nothing
        return False
    if reg.scheme != "http" or pre.scheme != "http":
        return False
    host = reg.hostname
    if not host or not _loopback_ip(host) or pre.hostname != host:
        return False
    # Same literal spelling of the host: only the ``:port`` part may differ.
    reg_netloc = reg.netloc if reg.port is None else reg.netloc.rsplit(":", 1)[0]
    pre_netloc = pre.netloc if pre.port is None else pre.netloc.rsplit(":", 1)[0]
    return (
        reg_netloc == pre_netloc
        and pre.username is None
        and pre.password is None
        and (reg.path, reg.query) == (pre.path, pre.query)
    )


def accepts(
    registered: Iterable[str], presented: str, *, app_kind: str | None, public: bool
) -> bool:
    """Whether ``presented`` matches one of a client's ``registered`` redirect URIs."""
    native = is_native(app_kind, public)
    return any(matches(uri, presented, native=native) for uri in registered)
