"""OAuth 2.0 (RFC 6749) on Authlib's server classes: clients and their authentication, the
token endpoint grants, PKCE (RFC 7636), introspection (RFC 7662), revocation (RFC 7009), JWT
access tokens (RFC 9068), the authorization response ``iss`` (RFC 9207), RFC 9700 rules."""
