"""tangsel_rp: the relying-party toolkit shared by the city's example apps in ``clients/``.

It owns what every relying party of Tangsel SSO needs, built on Authlib's Starlette OAuth
client and talking to the provider only over HTTP (it imports nothing from ``sso``):

- ``settings``: the settings every relying party has (pydantic-settings; each app its prefix)
- ``db``: engine helpers (SQLite by default, PostgreSQL possible)
- ``sessions``: server-side browser sessions (the cookie holds only a random id)
- ``oidc``: discovery, authorization code + PKCE (S256), ``state``/``nonce``/``iss`` checks,
  ID token validation, userinfo, refresh before expiry, RP-initiated logout
  (OpenID Connect Core 1.0, RFC 7636, RFC 9207, OpenID Connect RP-Initiated Logout 1.0)
- ``logout_token``: back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.6)
- ``jwks``: the provider's key set, refetched when an unknown ``kid`` appears
- ``bearer``: JWT access tokens checked locally (RFC 9068, RFC 6750 errors)
- ``web``, ``i18n``: templates, CSRF, error pages, Bahasa Indonesia and English
"""

from __future__ import annotations

import warnings


def quiet_httpx_fallback_warning() -> None:
    """Silence Authlib's "The httpx module is deprecated; please use httpx2" (once per import
    of its httpx integration, i.e. at every start of every app): httpx is what the apps ship
    and are tested with. Only that message of Authlib's own warning class is ignored.

    ``authlib.deprecate`` puts an "always" filter for its warnings at the front of the list
    when it is imported, which would win over an "ignore" added earlier: import it first."""
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings(
        "ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning
    )
