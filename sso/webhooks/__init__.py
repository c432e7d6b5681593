"""Webhooks (issue 16): admins subscribe an https URL to audit event types; each event is
sent as a Standard Webhooks message (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``, signed with the subscription's own secret by the ``standardwebhooks``
library).

- :mod:`.subscriptions`: the rules for creating, changing, pausing, resuming, deleting a
  subscription, rotating its secret and sending a delivery again. The admin console, the CLI
  and the admin REST API call these functions and nothing else.
- :mod:`.payload`: what a message says (no NIK, password, secret or token; personal data only
  as far as the event needs).
- :mod:`.delivery`: the background sender every ``sso serve`` worker runs: at least once,
  exponential back-off for 24 hours, a subscription that keeps failing is paused. Outbound
  calls go through the SSRF guard of back-channel logout (:mod:`sso.oauth.pinned_http`).

The outbox itself is written with the audit row, in the same transaction
(:mod:`sso.storage.webhooks`)."""
