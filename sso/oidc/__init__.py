"""OpenID Connect on top of oauth/: the authorization request and its interactions (Core 1.0
§3.1.2), ID tokens and claims (§2, §5), signing keys and JWKS, discovery (Discovery 1.0 and
RFC 8414), RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

The browser's way through a login: ``entry`` (/authorize and /device: answer at once or park)
→ ``policy`` (the named checks that say what is still owed) → ``interaction`` (the parked
request, typed) → ``login`` and ``second_factor`` (the steps a person takes, as services that
return ``outcomes``; :func:`sso.oidc.login.continue_after_authentication` is where every login
method hands over a proven person) → ``answer`` (the code, device approval or error that
ends it)."""
