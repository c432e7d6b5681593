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
