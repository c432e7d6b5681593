"""Tangsel SSO: the OpenID Connect provider of the city of Tangerang Selatan.

Layers (imports only go down): app/cli -> web/admin/developers -> oidc -> oauth -> accounts
-> storage -> db -> core/config.
"""

__version__ = "0.1.0"
