"""Audit event names (``noun.verb``, one closed enum) and the request context they are
recorded with.

The request context (request id, client IP, user agent) is set once per request by the web
middleware in a ``ContextVar`` so services can record events without knowing about HTTP.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class RequestContext:
    request_id: str = "-"
    ip: str | None = None
    user_agent: str | None = None


request_context: ContextVar[RequestContext] = ContextVar(
    "request_context",
    default=RequestContext(),  # noqa: B039 (a frozen dataclass is immutable)
)


def current_context() -> RequestContext:
    return request_context.get()


class Event(StrEnum):
    """Every audit event name, ``noun.verb``: the closed list dashboards, metrics and tests rely
    on (``sso.storage.audit.record`` takes nothing else). A new kind of event is a new member."""

    USER_LOGIN = "user.login"
    USER_LOGIN_FAILED = "user.login_failed"
    # A wrong current password where a logged-in person confirms a sensitive change (password
    # change, account deletion): not a login, but counted by the same guessing limits.
    USER_REAUTH_FAILED = "user.reauth_failed"
    USER_LOGOUT = "user.logout"
    USER_CREATED = "user.created"
    USER_DISABLED = "user.disabled"
    CONSENT_GRANTED = "consent.granted"
    CODE_ISSUED = "code.issued"
    CODE_REUSED = "code.reused"
    TOKEN_ISSUED = "token.issued"
    TOKEN_REVOKED = "token.revoked"
    REFRESH_TOKEN_REUSED = "refresh_token.reused"
    GRANT_REVOKED = "grant.revoked"
    CLIENT_CREATED = "client.created"
    CLIENT_SECRET_ROTATED = "client.secret_rotated"
    CLIENT_AUTH_FAILED = "client.auth_failed"
    KEY_CREATED = "key.created"
    KEY_ROTATED = "key.rotated"
    SESSION_ENDED = "session.ended"
    ROLE_GRANTED = "role.granted"
    BACKCHANNEL_LOGOUT_FAILED = "backchannel_logout.failed"
    # Developer portal and Dynamic Client Registration (RFC 7591/7592).
    CLIENT_UPDATED = "client.updated"
    CLIENT_DELETED = "client.deleted"
    CLIENT_APPROVED = "client.approved"
    CLIENT_REJECTED = "client.rejected"
    CLIENT_REGISTERED = "client.registered"
    CLIENT_REGISTRATION_REFUSED = "client.registration_refused"
    INITIAL_ACCESS_TOKEN_ISSUED = "initial_access_token.issued"
    INITIAL_ACCESS_TOKEN_REVOKED = "initial_access_token.revoked"
    # Second factors (TOTP, recovery codes, passkeys) and step-up.
    MFA_TOTP_ENROLLED = "mfa.totp_enrolled"
    MFA_TOTP_REMOVED = "mfa.totp_removed"
    MFA_RECOVERY_CODES_GENERATED = "mfa.recovery_codes_generated"
    MFA_RECOVERY_CODE_USED = "mfa.recovery_code_used"
    MFA_PASSKEY_ADDED = "mfa.passkey_added"
    MFA_PASSKEY_RENAMED = "mfa.passkey_renamed"
    MFA_PASSKEY_REMOVED = "mfa.passkey_removed"
    MFA_PASSKEY_COUNTER_REGRESSED = "mfa.passkey_counter_regressed"
    MFA_VERIFIED = "mfa.verified"
    MFA_FAILED = "mfa.failed"
    MFA_RESET = "mfa.reset"
    # The account console (/account).
    USER_PROFILE_UPDATED = "user.profile_updated"
    USER_EMAIL_CHANGE_REQUESTED = "user.email_change_requested"
    USER_EMAIL_CHANGED = "user.email_changed"
    USER_NIK_SET = "user.nik_set"
    USER_NIK_REMOVED = "user.nik_removed"
    USER_PASSWORD_CHANGED = "user.password_changed"
    USER_DATA_EXPORTED = "user.data_exported"
    USER_DELETED = "user.deleted"
    CONSENT_REVOKED = "consent.revoked"
    # The admin UI (/admin).
    ADMIN_ACCESS_DENIED = "admin.access_denied"
    # A call of the Admin REST API (/api/admin/v1), the client as actor (issue 16).
    ADMIN_API_CALLED = "admin_api.called"
    USER_UPDATED = "user.updated"
    USER_ENABLED = "user.enabled"
    USER_UNLOCKED = "user.unlocked"
    USER_RESET_LINK_SENT = "user.reset_link_sent"
    USER_SESSIONS_ENDED = "user.sessions_ended"
    IMPORT_VALIDATED = "import.validated"
    IMPORT_APPLIED = "import.applied"
    IMPORT_FAILED = "import.failed"
    AGENCY_CREATED = "agency.created"
    AGENCY_RENAMED = "agency.renamed"
    AGENCY_MOVED = "agency.moved"
    AGENCY_MERGED = "agency.merged"
    AGENCY_DELETED = "agency.deleted"
    ROLE_CREATED = "role.created"
    ROLE_REVOKED = "role.revoked"
    ROLE_DELETED = "role.deleted"
    ROLE_UPDATED = "role.updated"
    # `sso config apply` (sso.config_code): one event per applied file, beside the events of
    # each change it made (their actor is ``config-apply``).
    CONFIG_APPLIED = "config.applied"
    CLIENT_DISABLED = "client.disabled"
    CLIENT_ENABLED = "client.enabled"
    # An admin marked a developer's app as in development or no longer (issue 13).
    CLIENT_DEVELOPMENT_CHANGED = "client.development_changed"
    # Someone other than the owner or an admin tried to log in to an app in development.
    CLIENT_LOGIN_REFUSED = "client.login_refused"
    AUDIT_EXPORTED = "audit.exported"
    # Token endpoint refusals, the device flow (RFC 8628), key retirement.
    TOKEN_REFUSED = "token.refused"
    DEVICE_CODE_ISSUED = "device_code.issued"
    DEVICE_CODE_APPROVED = "device_code.approved"
    DEVICE_CODE_DENIED = "device_code.denied"
    DEVICE_CODE_REUSED = "device_code.reused"
    KEY_RETIRED = "key.retired"
    # Registration, recovery and activation of accounts.
    ACTIVATION_BATCH_STARTED = "activation.batch_started"
    ACTIVATION_BATCH_SENT = "activation.batch_sent"
    ACTIVATION_BATCH_RESUMED = "activation.batch_resumed"
    USER_REGISTERED = "user.registered"
    USER_REGISTRATION_EXISTING = "user.registration_existing"
    USER_EMAIL_VERIFIED = "user.email_verified"
    USER_VERIFICATION_RESENT = "user.verification_resent"
    # Phone numbers and one-time codes (sso.accounts.passwordless).
    ONE_TIME_CODE_ISSUED = "one_time_code.issued"
    ONE_TIME_CODE_FAILED = "one_time_code.failed"
    USER_PHONE_VERIFIED = "user.phone_verified"
    USER_PASSWORD_RESET_REQUESTED = "user.password_reset_requested"
    USER_PASSWORD_RESET = "user.password_reset"
    USER_ACTIVATION_LINK_SENT = "user.activation_link_sent"
    USER_ACTIVATED = "user.activated"
    # Upstream identity providers (sso.federation).
    UPSTREAM_CREATED = "upstream.created"
    UPSTREAM_UPDATED = "upstream.updated"
    UPSTREAM_DISABLED = "upstream.disabled"
    UPSTREAM_ENABLED = "upstream.enabled"
    FEDERATION_LOGIN = "federation.login"
    FEDERATION_LINKED = "federation.linked"
    FEDERATION_UNLINKED = "federation.unlinked"
    FEDERATION_REFUSED = "federation.refused"
    FEDERATION_NIK_CONFLICT = "federation.nik_conflict"
    # Webhook subscriptions (sso.webhooks).
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_UPDATED = "webhook.updated"
    WEBHOOK_PAUSED = "webhook.paused"
    WEBHOOK_RESUMED = "webhook.resumed"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"
    WEBHOOK_REDELIVERED = "webhook.redelivered"
