"""OAuth 2.0 (RFC 6749) on Authlib's server classes: clients and their authentication, the
token endpoint grants, PKCE (RFC 7636), introspection (RFC 7662), revocation (RFC 7009), JWT
access tokens (RFC 9068), the authorization response ``iss`` (RFC 9207), RFC 9700 rules.

By flow: ``server`` (the AuthorizationServer and ``build``), ``client_auth`` (RFC 6749 §2.3,
RFC 7523), ``grants/`` (one module per grant type), ``introspection``, ``revocation``,
``device`` (RFC 8628 §3.1–3.3), ``dynamic_registration`` (RFC 7591/7592) and
``developer_apps`` (apps that developers register in the portal) with ``app_review`` (an
admin's approval, rejection and in-development mark)."""
