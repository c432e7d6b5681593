"""Audit event names (``noun.verb``) and the request context they are recorded with.

The request context (request id, client IP, user agent) is set once per request by the web
middleware in a ``ContextVar`` so services can record events without knowing about HTTP.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


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


# Names used across the code base; an event outside this list is still allowed, but these are
# the ones dashboards and tests rely on.
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
# `sso config apply` (sso.config_code): one event per applied file, beside the events of each
# change it made (their actor is ``config-apply``).
CONFIG_APPLIED = "config.applied"
CLIENT_DISABLED = "client.disabled"
CLIENT_ENABLED = "client.enabled"
# An admin marked a developer's app as in development or no longer (issue 13).
CLIENT_DEVELOPMENT_CHANGED = "client.development_changed"
# Someone other than the owner or an admin tried to log in to an app in development.
CLIENT_LOGIN_REFUSED = "client.login_refused"
AUDIT_EXPORTED = "audit.exported"
