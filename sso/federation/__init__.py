"""Upstream identity providers (brokering): Tangsel SSO as an OpenID Connect *relying party* of
Google, INApas or any OpenID provider, so a person logs in through an identity they already
have.

- :mod:`.registry`: the upstreams an admin registers (CLI, admin console, APIs), their presets
  and the callback URI ``{issuer}/upstreams/{slug}/callback``.
- :mod:`.metadata`: the upstream's discovery document (OIDC Discovery 1.0 §4) and JWKS, fetched
  through the SSRF guard and cached; the JWKS is fetched again for an unknown ``kid``.
- :mod:`.id_tokens`: complete ID token validation (OIDC Core §3.1.3.7).
- :mod:`.flow`: the round trip: authorization code flow with PKCE S256 (RFC 7636), ``state``
  and ``nonce`` bound to the browser and kept server-side; the code exchange.
- :mod:`.linking`: who the validated identity is here, without account takeover (an email
  match never links by itself), new citizen accounts from the claims, NIK from an
  identity-assurance upstream.
"""
