# ruff: noqa: F811  (pytest fixtures imported from tests.admin.conftest, used as arguments)
"""The webhooks page of the admin console: create (secret shown once), list with search and
paging both ways, pause / resume, the delivery log with "send again", rotate and delete with
their confirmation pages, the dashboard notice, and admins only. SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re

import httpx2
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.core import events as ev
from sso.db.models import WebhookSubscription
from sso.runtime import Runtime
from sso.storage import audit
from sso.webhooks import subscriptions as service
from tests.admin.conftest import (  # noqa: F401  (fixtures)
    Browser,
    admin,
    confirm,
    helpdesk,
    mailbox,
    org,
    settings,
)
from tests.admin.conftest import events as audit_events
from tests.webhooks.receiver import Receiver, wait_for

SECRET = re.compile(r'<code id="new-secret">(whsec_[^<]+)</code>')


def create(admin: Browser, url: str, *types: str, extra: str = "") -> httpx2.Response:
    return admin.post(
        "/admin/webhooks/new",
        {
            "url": url,
            "description": "SOC Kota",
            "event_types": list(types),
            "extra_event_types": extra,
        },
    )


def test_an_admin_creates_a_webhook_and_sees_its_secret_once(
    admin: Browser, runtime: Runtime, db: Session
) -> None:
    receiver = Receiver()
    try:
        r = create(admin, receiver.url, "client.*", extra="user.created user.login_failed")
        assert r.status_code == 303 and r.headers["location"] == "/admin/secret"
        page = admin.get("/admin/secret")
        secret = html.unescape(SECRET.search(page.text).group(1))  # type: ignore[union-attr]
        assert page.headers["cache-control"] == "no-store"
        sub = db.scalars(select(WebhookSubscription)).one()
        assert sub.event_types == ["client.*", "user.created", "user.login_failed"]
        assert secret not in sub.secret_encrypted
        assert audit_events(db, "webhook.created", target_id=sub.id)
        # gone once copied
        r = admin.post("/admin/secret", page="/admin/secret")
        assert r.headers["location"] == f"/admin/webhooks/{sub.id}?done=secret_gone"
        assert "whsec_" not in admin.get("/admin/secret").text
        # deliveries arrive signed with that secret; the log shows them
        receiver.secrets.append(secret)
        with runtime.sessions() as s:
            audit.record(s, ev.Event.USER_CREATED, target_type="user", target_id="u1")
            s.commit()
        # the sender the app started (as `sso serve` does) is woken by the commit
        wait_for(lambda: receiver.messages, "the delivery")
        assert receiver.types() == ["user.created"] and receiver.bad_signatures == 0
        wait_for(
            lambda: (
                'data-label="Percobaan">1<'
                in admin.get(f"/admin/webhooks/{sub.id}?delivery_status=delivered").text
            ),
            "the delivery recorded",
        )
        detail = admin.get(f"/admin/webhooks/{sub.id}")
        assert "user.created" in detail.text and 'id="deliveries"' in detail.text
        delivery = re.search(rf"/admin/webhooks/{sub.id}/deliveries/([0-9a-f-]+)\"", detail.text)
        assert delivery
        attempts = admin.get(f"/admin/webhooks/{sub.id}/deliveries/{delivery.group(1)}")
        assert attempts.status_code == 200 and "200" in attempts.text
        r = admin.post(
            f"/admin/webhooks/{sub.id}/deliveries/{delivery.group(1)}/send-again",
            page=f"/admin/webhooks/{sub.id}",
        )
        assert r.headers["location"].endswith("done=sent_again")
        wait_for(lambda: receiver.deliveries == 2, "the second delivery", timeout=30)
        assert len(receiver.messages) == 1  # the same webhook-id
    finally:
        receiver.close()


def test_bad_input_is_shown_on_the_form_and_changes_nothing(admin: Browser, db: Session) -> None:
    r = create(admin, "https://hooks.example.id/x", extra="login.failed")
    assert r.status_code == 400 and "user.login_failed" in r.text
    r = create(admin, "ftp://hooks.example.id/x", "user.*")
    assert r.status_code == 400
    r = create(admin, "https://hooks.example.id/x")
    assert r.status_code == 400
    assert db.scalars(select(WebhookSubscription)).all() == []


def test_list_search_and_paging_both_ways(admin: Browser, runtime: Runtime) -> None:
    with runtime.sessions() as s:
        for i in range(30):
            service.create(
                s,
                runtime.settings,
                runtime.encryptor,
                url=f"https://hooks{i:02d}.example.id/in",
                event_types=["user.*"],
            )
        s.commit()
    first = admin.get("/admin/webhooks")
    assert first.text.count('href="/admin/webhooks/') >= 25 and 'rel="next"' in first.text
    second = admin.get("/admin/webhooks?page=2")
    assert 'rel="prev"' in second.text and "hooks29.example.id" in second.text
    found = admin.get("/admin/webhooks?q=HOOKS07")
    assert "hooks07.example.id" in found.text and "hooks08.example.id" not in found.text
    assert "tidak ada webhook" in admin.get("/admin/webhooks?q=zzz").text.lower()


def test_pause_resume_rotate_delete(admin: Browser, runtime: Runtime, db: Session) -> None:
    with runtime.sessions() as s:
        sub_id = service.create(
            s,
            runtime.settings,
            runtime.encryptor,
            url="https://hooks.example.id/in",
            event_types=["user.*"],
        ).subscription.id
        s.commit()
    path = f"/admin/webhooks/{sub_id}"
    r = admin.post(f"{path}/pause", {"version": "1"}, page=path)
    assert r.headers["location"].endswith("done=paused")
    assert 'id="resume-webhook"' in admin.get(path).text
    r = admin.post(f"{path}/resume", {"version": "1"}, page=path)  # stale version
    assert "conflict" in r.headers["location"]
    r = admin.post(f"{path}/resume", {"version": "2"}, page=path)
    assert r.headers["location"].endswith("done=resumed")
    # rotate: a POST that skipped the confirmation page does nothing
    r = admin.post(f"{path}/rotate", page=path)
    assert r.headers["location"] == f"{path}/rotate/confirm"
    r = confirm(admin, f"{path}/rotate")
    assert r.headers["location"] == "/admin/secret"
    assert SECRET.search(admin.get("/admin/secret").text)
    assert audit_events(db, "webhook.secret_rotated", target_id=sub_id)
    page = admin.get(f"{path}/delete/confirm")
    assert "hooks.example.id" in page.text
    r = confirm(admin, f"{path}/delete")
    assert r.headers["location"] == "/admin/webhooks?done=deleted"
    db.expire_all()
    assert db.get(WebhookSubscription, sub_id) is None
    assert admin.get(path).status_code == 404


def test_the_dashboard_tells_of_a_webhook_paused_for_failing(
    admin: Browser, runtime: Runtime
) -> None:
    assert 'id="webhooks-failing"' not in admin.get("/admin").text
    with runtime.sessions() as s:
        sub = service.create(
            s,
            runtime.settings,
            runtime.encryptor,
            url="https://hooks.example.id/in",
            event_types=["*"],
        ).subscription
        service.pause(s, sub.id, reason="failing")
        s.commit()
    page = admin.get("/admin")
    assert 'id="webhooks-failing"' in page.text and "/admin/webhooks?status=paused" in page.text


def test_only_admins_manage_webhooks(helpdesk: Browser) -> None:
    assert helpdesk.get("/admin/webhooks").status_code == 403
    assert 'href="/admin/webhooks"' not in helpdesk.get("/admin/users").text
