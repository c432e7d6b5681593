"""Webhooks end to end inside one process, on SQLite and PostgreSQL: the outbox is written
with the audit row (and only when someone listens), a real receiver verifies every signature,
failures are retried with back-off, a subscription that keeps failing is paused, "send again",
secret rotation, the SSRF guard, and payloads without personal data or secrets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from sso.config import Settings
from sso.core import events
from sso.core.errors import InvalidInput
from sso.db.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from sso.runtime import Runtime
from sso.storage import audit
from sso.storage import webhooks as outbox
from sso.webhooks import subscriptions as service
from sso.webhooks.delivery import deliver_due
from tests.conftest import make_settings
from tests.factories import create_client, create_user
from tests.webhooks.receiver import Receiver

NIK = "3674015508900001"


@pytest.fixture
def settings(backend: str, backend_urls: dict[str, str], tmp_path: Path) -> Settings:
    return make_settings(
        backend_urls[backend], tmp_path, webhook_retry_base=0.2, webhook_retry_cap=0.5
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def subscribe(runtime: Runtime, receiver: Receiver, *types: str) -> str:
    with runtime.sessions() as s:
        made = service.create(
            s,
            runtime.settings,
            runtime.encryptor,
            url=receiver.url,
            event_types=list(types),
            description="SOC",
        )
        s.commit()
    receiver.secrets.append(made.secret)
    return made.subscription.id


def count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def drain(runtime: Runtime, rounds: int = 20) -> None:
    for _ in range(rounds):
        if not deliver_due(runtime):
            return


def test_nothing_is_queued_without_a_subscription(runtime: Runtime) -> None:
    with runtime.sessions() as s:
        create_user(runtime, s, username="siti")
    assert count(runtime, WebhookEvent) == 0


def test_an_event_is_sent_once_signed_with_the_subscription_secret(
    runtime: Runtime, receiver: Receiver
) -> None:
    sub_id = subscribe(runtime, receiver, "user.created", "client.*")
    with runtime.sessions() as s:
        user = create_user(runtime, s, username="siti")
        create_client(runtime, s)
    drain(runtime)
    assert receiver.bad_signatures == 0
    assert receiver.types() == ["client.created", "user.created"]
    created = next(m for m in receiver.messages.values() if m["type"] == "user.created")
    assert created["data"]["target"] == {"type": "user", "id": user.id}
    headers, body = receiver.received[0]
    assert headers["webhook-id"].startswith("msg_") and headers["webhook-signature"].startswith(
        "v1,"
    )
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert b"siti" not in b"".join(b for _h, b in receiver.received)  # no username, no email
    with runtime.sessions() as s:
        d = s.scalars(select(WebhookDelivery)).all()
        assert {x.status for x in d} == {"delivered"} and {x.subscription_id for x in d} == {sub_id}
        assert [a.status_code for a in s.scalars(select(WebhookAttempt))] == [200, 200]
    drain(runtime)
    assert len(receiver.received) == 2  # nothing twice


def test_a_change_that_rolls_back_queues_nothing(runtime: Runtime, receiver: Receiver) -> None:
    subscribe(runtime, receiver, "user.*")
    with runtime.sessions() as s:
        audit.record(s, events.Event.USER_DISABLED, target_type="user", target_id="x")
        assert s.execute(select(func.count()).select_from(WebhookEvent)).scalar_one() == 1
        s.rollback()
    assert count(runtime, WebhookEvent) == 0


def test_the_hot_path_reads_the_subscriptions_at_most_once_per_ttl(runtime: Runtime) -> None:
    seen: list[str] = []

    def watch(_conn: object, _cursor: object, statement: str, *_a: object) -> None:
        if "webhook_subscriptions" in statement:
            seen.append(statement)

    sa_event.listen(runtime.engine, "before_cursor_execute", watch)
    try:
        with runtime.sessions() as s:
            outbox.forget_interest(s)
            for _ in range(200):
                audit.write(s, audit.event_values(events.Event.TOKEN_ISSUED, client_id="c"))
            s.commit()
    finally:
        sa_event.remove(runtime.engine, "before_cursor_execute", watch)
    assert len(seen) <= 2, seen  # once, or twice if the run crossed a TTL
    assert count(runtime, WebhookEvent) == 0


def test_failures_are_retried_with_back_off_until_delivered(
    runtime: Runtime, receiver: Receiver
) -> None:
    subscribe(runtime, receiver, "user.disabled")
    receiver.statuses = [500, 503, 200]
    with runtime.sessions() as s:
        audit.record(s, events.Event.USER_DISABLED, target_type="user", target_id="u1")
        s.commit()
    deliver_due(runtime)
    assert deliver_due(runtime) == 0  # not due yet: it waits its back-off
    deadline = time.monotonic() + 10
    while not receiver.messages and time.monotonic() < deadline:
        deliver_due(runtime)
        time.sleep(0.05)
    assert receiver.types() == ["user.disabled"]
    with runtime.sessions() as s:
        d = s.scalars(select(WebhookDelivery)).one()
        assert (d.status, d.attempts, d.last_status_code) == ("delivered", 3, 200)
        codes = [
            a.status_code for a in s.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id))
        ]
        assert codes == [500, 503, 200]
    ids = {h["webhook-id"] for h, _b in receiver.received}
    assert len(ids) == 1  # a retry is the same message


def test_a_subscription_that_keeps_failing_is_paused_and_can_send_again(
    backend: str, backend_urls: dict[str, str], tmp_path: Path, receiver: Receiver
) -> None:
    from sso.runtime import build_runtime
    from tests.conftest import _empty_all_tables

    rt = build_runtime(
        make_settings(
            backend_urls[backend],
            tmp_path,
            webhook_retry_base=0.1,
            webhook_retry_cap=0.2,
            webhook_retry_window=1,
        )
    )
    _empty_all_tables(rt)
    try:
        sub_id = subscribe(rt, receiver, "user.disabled")
        receiver.statuses = [500]
        with rt.sessions() as s:
            audit.record(s, events.Event.USER_DISABLED, target_type="user", target_id="u1")
            s.commit()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            deliver_due(rt)
            with rt.sessions() as s:
                sub = s.get(WebhookSubscription, sub_id)
                assert sub is not None
                if sub.status == "paused":
                    break
            time.sleep(0.1)
        with rt.sessions() as s:
            sub = s.get(WebhookSubscription, sub_id)
            assert sub is not None and (sub.status, sub.paused_reason) == ("paused", "failing")
            assert outbox.paused_for_failing(s) == 1
            d = s.scalars(select(WebhookDelivery)).one()
            assert d.status == "failed" and d.attempts >= 2
            # events keep being queued while it is paused
            audit.record(s, events.Event.USER_DISABLED, target_type="user", target_id="u2")
            s.commit()
        receiver.statuses = [200]
        drain(rt)
        assert receiver.messages == {}  # paused: nothing goes out
        with rt.sessions() as s:
            service.resume(s, sub_id)
            service.send_again(s, d.id, subscription_id=sub_id)
            s.commit()
        drain(rt)
        assert sorted(m["data"]["target"]["id"] for m in receiver.messages.values()) == ["u1", "u2"]
    finally:
        rt.dispose()


def test_after_a_rotation_both_secrets_sign_for_a_while(
    runtime: Runtime, receiver: Receiver
) -> None:
    sub_id = subscribe(runtime, receiver, "user.disabled")
    old = receiver.secrets[0]
    with runtime.sessions() as s:
        new = service.rotate_secret(s, runtime.encryptor, sub_id).secret
        audit.record(s, events.Event.USER_DISABLED, target_type="user", target_id="u1")
        s.commit()
    assert new != old
    receiver.secrets = [new]
    drain(runtime)
    assert receiver.bad_signatures == 0 and len(receiver.messages) == 1
    headers, body = receiver.received[-1]
    from standardwebhooks.webhooks import Webhook

    assert Webhook(old).verify(body, headers)  # the receiver not switched yet still verifies
    assert len(headers["webhook-signature"].split(" ")) == 2


def test_event_types_and_urls_are_checked(runtime: Runtime) -> None:
    with runtime.sessions() as s:
        for bad in (["login.failed"], ["user.nope"], ["nothing.*"], ["USER.CREATED"], []):
            with pytest.raises(InvalidInput):
                service.create(
                    s,
                    runtime.settings,
                    runtime.encryptor,
                    url="https://hooks.example.id/x",
                    event_types=bad,
                )
        for bad_url in ("ftp://x.example.id/", "https://user:pw@x.example.id/", "not a url"):
            with pytest.raises(InvalidInput):
                service.create(
                    s,
                    runtime.settings,
                    runtime.encryptor,
                    url=bad_url,
                    event_types=["user.created"],
                )
        ok = service.create(
            s,
            runtime.settings,
            runtime.encryptor,
            url="https://hooks.example.id/x",
            event_types=["user.login_failed", "client.*", "*", "client.*"],
        )
        assert ok.subscription.event_types == ["user.login_failed", "client.*", "*"]
        s.rollback()


def test_private_addresses_are_refused_outside_dev_and_at_send_time(
    backend: str, backend_urls: dict[str, str], tmp_path: Path, receiver: Receiver
) -> None:
    from sso.runtime import build_runtime
    from tests.conftest import _empty_all_tables

    strict = make_settings(backend_urls[backend], tmp_path, allow_private_client_urls=False)
    rt = build_runtime(strict)
    _empty_all_tables(rt)
    try:
        with rt.sessions() as s:
            with pytest.raises(InvalidInput):
                service.create(
                    s, strict, rt.encryptor, url=receiver.url, event_types=["user.disabled"]
                )
            s.rollback()
            # a subscription made while private addresses were allowed is refused when sent
            lax = make_settings(backend_urls[backend], tmp_path)
            service.create(s, lax, rt.encryptor, url=receiver.url, event_types=["user.disabled"])
            s.commit()
            audit.record(s, events.Event.USER_DISABLED, target_type="user", target_id="u1")
            s.commit()
        deliver_due(rt)
        assert receiver.received == []
        with rt.sessions() as s:
            a = s.scalars(select(WebhookAttempt)).one()
            assert a.status_code is None and a.error is not None and "refused" in a.error
    finally:
        rt.dispose()


def test_payloads_carry_no_nik_password_secret_or_token(
    runtime: Runtime, receiver: Receiver
) -> None:
    from sso.accounts.profile import set_nik
    from sso.oauth.clients import rotate_secret

    subscribe(runtime, receiver, "*")
    password = "Sandi-Rahasia-Sekali-2026!"
    with runtime.sessions() as s:
        user = create_user(
            runtime,
            s,
            username="wargaku",
            email="warga@contoh.id",
            password=password,
            phone="+6281234567890",
        )
        set_nik(s, runtime.settings, runtime.encryptor, user, NIK)
        client, first_secret = create_client(runtime, s)
        second_secret = rotate_secret(s, runtime.secret_key, client.client_id)
        s.commit()
    drain(runtime)
    assert {"user.created", "user.nik_set", "client.created", "client.secret_rotated"} <= set(
        receiver.types()
    )
    bodies = b"\n".join(b for _h, b in receiver.received).decode()
    for forbidden in (
        NIK,
        password,
        first_secret or "-",
        second_secret,
        "wargaku",
        "warga@contoh.id",
        "81234567890",
        "whsec_",
    ):
        assert forbidden not in bodies
    for message in receiver.messages.values():
        assert set(message) == {"type", "timestamp", "data"}
        json.dumps(message)


def test_concurrent_senders_send_each_delivery_once(runtime: Runtime, receiver: Receiver) -> None:
    subscribe(runtime, receiver, "user.disabled")
    with runtime.sessions() as s:
        for i in range(40):
            audit.record(s, events.Event.USER_DISABLED, target_type="user", target_id=f"u{i}")
        s.commit()
    receiver.delay = 0.02
    errors: list[BaseException] = []

    def run() -> None:
        try:
            drain(runtime)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(receiver.messages) == 40 and receiver.deliveries == 40


def test_the_token_endpoints_grant_and_event_statement_queues_too(
    runtime: Runtime, receiver: Receiver
) -> None:
    """The client-credentials grant is written with its audit row in one statement on
    PostgreSQL (a CTE): a subscription to token.issued still gets the event."""
    from sso.storage import grants

    subscribe(runtime, receiver, "token.issued")
    with runtime.sessions() as s:
        grant = grants.new_grant(client_id="mesin", user_id=None, scope="admin:read")
        grants.insert_grant(
            s,
            grant,
            audit.event_values(
                events.Event.TOKEN_ISSUED,
                client_id="mesin",
                target_type="grant",
                target_id=grant.id,
                grant_type="client_credentials",
            ),
        )
        s.commit()
    drain(runtime)
    (message,) = receiver.messages.values()
    assert message["data"]["target"] == {"type": "grant", "id": grant.id}
    assert message["data"]["details"]["grant_type"] == "client_credentials"
