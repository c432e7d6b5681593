"""The application's lifespan: what it starts, it stops."""

from __future__ import annotations

import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sso.web.app_runtime import AppRuntime


def test_the_token_endpoints_threads_stop_with_the_app(app: FastAPI, runtime: AppRuntime) -> None:
    with TestClient(app, base_url="http://testserver") as client:
        r = client.post("/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x"))
        assert r.status_code == 401  # answered on the token endpoints' own threads
        pool = runtime.token_pool.executor()  # the threads the endpoint ran on
        threads = {pool.submit(threading.current_thread).result() for _ in range(8)}
        assert all(t.name.startswith("sso-token") and t.is_alive() for t in threads)
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(RuntimeError):
        pool.submit(threading.current_thread)


def test_the_runtime_pools_stop_with_the_app_and_start_again_with_it(
    app: FastAPI, runtime: AppRuntime
) -> None:
    """Every thread pool of the runtime ends with the lifespan (the hasher's too); a lifespan
    that runs again in the same process gets fresh threads on first use."""
    pools = (runtime.token_pool, runtime.backchannel_pool)
    with TestClient(app, base_url="http://testserver"):
        threads = {p.submit(threading.current_thread).result() for p in pools}
        before = set(threading.enumerate())
        runtime.password_hasher.hash("kata sandi percobaan")  # starts a hashing thread
        threads |= {t for t in set(threading.enumerate()) - before if "argon2" in t.name}
        assert {t.name.split("_")[0] for t in threads} == {
            "sso-token",
            "backchannel-logout",
            "sso-argon2",
        }
    assert not any(t.is_alive() for t in threads)
    with TestClient(app, base_url="http://testserver"):
        again = runtime.token_pool.submit(threading.current_thread).result()
        assert again.is_alive() and again not in threads
    assert not again.is_alive()
