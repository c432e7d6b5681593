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
