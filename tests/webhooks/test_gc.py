"""``sso gc`` keeps the webhook delivery log 30 days and never drops a pending delivery."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from sso.core import events
from sso.core.clock import now
from sso.db.models import WebhookDelivery, WebhookEvent
from sso.runtime import Runtime
from sso.storage import audit
from sso.storage import webhook_deliveries as repo
from sso.storage.gc import collect
from sso.webhooks import subscriptions as service


def test_old_finished_deliveries_go_pending_ones_stay(runtime: Runtime) -> None:
    with runtime.sessions() as s:
        service.create(
            s,
            runtime.settings,
            runtime.encryptor,
            url="https://hooks.example.id/in",
            event_types=["user.disabled"],
        )
        s.commit()
        for i in range(3):
            audit.record(s, events.Event.USER_DISABLED, target_type="user", target_id=f"u{i}")
        s.commit()
        repo.dispatch(s)
        s.commit()
        old = now() - timedelta(days=31)
        rows = s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        for row, status in zip(rows, ("delivered", "failed", "pending"), strict=True):
            row.status, row.created_at = status, old
        for e in s.scalars(select(WebhookEvent)):
            e.created_at = old
        s.commit()
        counts = collect(s)
        s.commit()
        assert counts["webhook_deliveries"] == 2
        assert [d.status for d in s.scalars(select(WebhookDelivery))] == ["pending"]
        assert s.execute(select(func.count()).select_from(WebhookEvent)).scalar_one() == 1
