"""The client cache of the token side stays correct across workers and hosts.

Changes made in this process (any ORM session) take effect at once. Changes another process or
host made, simulated here with plain SQL that no ORM event sees, take effect once the cached
copy's lifetime (2 s) is over: the clock of the cache is moved by hand, nothing waits.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from sso.core.crypto import keyed_hash, random_token
from sso.db.models import Client
from sso.oauth.client_cache import ClientCache
from sso.oauth.clients import rotate_secret
from sso.web.app_runtime import AppRuntime
from tests.factories import create_client
from tests.oauth.helpers import Env


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(runtime: AppRuntime) -> Clock:
    clock = Clock()
    cache: ClientCache = runtime.token_server.tokens.clients
    cache.clock = clock
    return clock


@pytest.fixture
def service(runtime: AppRuntime, db: Session) -> tuple[Client, str]:
    client, secret = create_client(
        runtime,
        db,
        name="Batch job",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scope="api:read",
    )
    assert secret
    return client, secret


def token(env: Env, client_id: str, secret: str) -> Any:
    return env.http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )


def elsewhere(runtime: AppRuntime, sql: str, **params: Any) -> None:
    """A change by another worker or host: plain SQL on a connection of its own."""
    with runtime.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_disabled_on_another_host_stops_within_the_lifetime(
    env: Env, runtime: AppRuntime, service: tuple[Client, str], clock: Clock
) -> None:
    client, secret = service
    assert token(env, client.client_id, secret).status_code == 200  # now cached
    elsewhere(
        runtime, "UPDATE clients SET status = 'disabled' WHERE client_id = :c", c=client.client_id
    )
    clock.t += 2.0
    r = token(env, client.client_id, secret)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = env.http.post("/introspect", data={"token": "x"}, auth=(client.client_id, secret))
    assert r.status_code == 401


def test_secret_rotated_on_another_host_takes_over_within_the_lifetime(
    env: Env, runtime: AppRuntime, service: tuple[Client, str], clock: Clock
) -> None:
    client, old = service
    assert token(env, client.client_id, old).status_code == 200
    new = random_token("client_secret")
    elsewhere(
        runtime,
        "UPDATE clients SET client_secret_hash = :h, version = version + 1 WHERE client_id = :c",
        h=keyed_hash(runtime.secret_key, new, "client_secret"),
        c=client.client_id,
    )
    clock.t += 2.0
    assert token(env, client.client_id, old).status_code == 401
    assert token(env, client.client_id, new).status_code == 200


def test_a_change_in_this_process_is_immediate(
    env: Env, runtime: AppRuntime, service: tuple[Client, str], clock: Clock
) -> None:
    client, old = service
    assert token(env, client.client_id, old).status_code == 200
    with runtime.sessions() as s:  # e.g. the admin console in the same worker
        new = rotate_secret(s, runtime.secret_key, client.client_id)
        s.commit()
    assert token(env, client.client_id, old).status_code == 401  # the clock did not move
    assert token(env, client.client_id, new).status_code == 200
    with runtime.sessions() as s:
        row = s.get(Client, client.id)
        assert row is not None
        row.status = "disabled"
        s.commit()
    assert token(env, client.client_id, new).status_code == 401


@pytest.mark.parametrize("statement", ["orm", "core"])
def test_a_bulk_update_through_a_session_is_immediate(
    env: Env, runtime: AppRuntime, service: tuple[Client, str], clock: Clock, statement: str
) -> None:
    """A statement that changes client rows without loading them (an ORM bulk UPDATE, or a
    Core UPDATE of the clients table executed by a session) drops this process's copies at
    commit too: no caller has to tell the cache."""
    from sqlalchemy import update

    client, secret = service
    assert token(env, client.client_id, secret).status_code == 200  # now cached
    target: Any = Client.__table__ if statement == "core" else Client
    table: Any = Client.__table__.c if statement == "core" else Client
    change = update(target)
    with runtime.sessions() as s:
        s.execute(change.where(table.client_id == client.client_id).values(status="disabled"))
        s.commit()
    assert token(env, client.client_id, secret).status_code == 401  # the clock did not move
