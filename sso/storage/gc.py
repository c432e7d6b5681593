"""Garbage collection of expired protocol state (dex-style first-class operation)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, or_
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import (
    AuthorizationCode,
    AuthorizationRequest,
    BackchannelLogoutDelivery,
    ClientAssertionJti,
    DeviceAuthorization,
    Grant,
    LoginSession,
    RefreshToken,
    RevokedAccessToken,
    UpstreamLogin,
)
from sso.storage import account_tokens, one_time_codes, webhook_deliveries
from sso.storage import mfa as mfa_store
from sso.storage import throttle as throttle_counters

# Consumed single-use rows are kept a little while so a late replay is still recognised as a
# replay (and answered with revocation) rather than as an unknown value.
REPLAY_MEMORY = timedelta(hours=1)
WEBHOOK_LOG_RETENTION = timedelta(days=30)


def collect(session: Session) -> dict[str, int]:
    """Delete expired rows; returns how many of each kind went."""
    t = now()
    counts: dict[str, int] = {}

    def run(name: str, stmt: object) -> None:
        result = session.execute(stmt)  # type: ignore[call-overload]
        counts[name] = int(result.rowcount or 0)

    run(
        "authorization_requests",
        delete(AuthorizationRequest).where(AuthorizationRequest.expires_at < t),
    )
    run(
        "upstream_logins",
        delete(UpstreamLogin).where(UpstreamLogin.expires_at < t - REPLAY_MEMORY),
    )
    run(
        "authorization_codes",
        delete(AuthorizationCode).where(AuthorizationCode.expires_at < t - REPLAY_MEMORY),
    )
    run(
        "refresh_tokens",
        delete(RefreshToken).where(
            or_(
                RefreshToken.expires_at < t,
                RefreshToken.revoked_at < t - REPLAY_MEMORY,
            )
        ),
    )
    run(
        "login_sessions",
        delete(LoginSession).where(
            or_(LoginSession.expires_at < t, LoginSession.ended_at < t - REPLAY_MEMORY)
        ),
    )
    run(
        "revoked_access_tokens", delete(RevokedAccessToken).where(RevokedAccessToken.expires_at < t)
    )
    run(
        "client_assertion_jtis", delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < t)
    )
    run(
        "backchannel_logout_deliveries",
        delete(BackchannelLogoutDelivery).where(
            or_(
                BackchannelLogoutDelivery.delivered_at < t - timedelta(days=1),
                BackchannelLogoutDelivery.failed_at < t - timedelta(days=7),
            )
        ),
    )
    # The webhook delivery log is kept 30 days; a pending delivery is never collected.
    counts["webhook_deliveries"] = webhook_deliveries.purge(
        session, older_than=t - WEBHOOK_LOG_RETENTION
    )
    counts["account_tokens"] = account_tokens.delete_expired(session, t)
    counts["throttle_counters"] = throttle_counters.delete_expired(session, t)
    counts["webauthn_challenges"] = mfa_store.delete_expired_challenges(session, t)
    counts["one_time_codes"] = one_time_codes.delete_expired(session, t - REPLAY_MEMORY)
    run(
        "device_authorizations",
        delete(DeviceAuthorization).where(DeviceAuthorization.expires_at < t - REPLAY_MEMORY),
    )
    # A grant with no live refresh token left, older than the longest access token, is spent.
    live_rt = RefreshToken.__table__.select().where(RefreshToken.grant_id == Grant.id).exists()
    live_code = (
        AuthorizationCode.__table__.select().where(AuthorizationCode.grant_id == Grant.id).exists()
    )
    run(
        "grants",
        delete(Grant).where(and_(Grant.created_at < t - timedelta(days=1), ~live_rt, ~live_code)),
    )
    return counts
