"""All tables. Importing this package registers every model on ``Base.metadata``."""

from sso.db.models.account_tokens import AccountToken
from sso.db.models.accounts import Agency, PasswordCredential, User
from sso.db.models.activations import ActivationBatch, ActivationSend
from sso.db.models.audit import AuditEvent
from sso.db.models.clients import Client, ClientAssertionJti, InitialAccessToken
from sso.db.models.devices import DeviceAuthorization
from sso.db.models.imports import ImportJob, ImportRow
from sso.db.models.keys import SigningKey
from sso.db.models.mfa import (
    RecoveryCode,
    TotpCredential,
    WebAuthnChallenge,
    WebAuthnCredential,
)
from sso.db.models.oauth import (
    AuthorizationCode,
    AuthorizationRequest,
    Consent,
    Grant,
    RefreshToken,
    RevokedAccessToken,
)
from sso.db.models.one_time_codes import OneTimeCode
from sso.db.models.roles import Role, RoleAssignment
from sso.db.models.sessions import BackchannelLogoutDelivery, LoginSession, SessionClient
from sso.db.models.throttle import ThrottleCounter
from sso.db.models.upstreams import FederatedIdentity, UpstreamLogin, UpstreamProvider
from sso.db.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "AccountToken",
    "ActivationBatch",
    "ActivationSend",
    "Agency",
    "AuditEvent",
    "AuthorizationCode",
    "AuthorizationRequest",
    "BackchannelLogoutDelivery",
    "Client",
    "ClientAssertionJti",
    "Consent",
    "DeviceAuthorization",
    "FederatedIdentity",
    "Grant",
    "ImportJob",
    "ImportRow",
    "InitialAccessToken",
    "LoginSession",
    "OneTimeCode",
    "PasswordCredential",
    "RecoveryCode",
    "RefreshToken",
    "RevokedAccessToken",
    "Role",
    "RoleAssignment",
    "SessionClient",
    "SigningKey",
    "ThrottleCounter",
    "TotpCredential",
    "UpstreamLogin",
    "UpstreamProvider",
    "User",
    "WebAuthnChallenge",
    "WebAuthnCredential",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
