"""OpenID Connect on top of oauth/: the authorization request and its interactions (Core 1.0
§3.1.2), ID tokens and claims (§2, §5), signing keys and JWKS, discovery (Discovery 1.0 and
RFC 8414), RP-Initiated Logout 1.0 and Back-Channel Logout 1.0."""
