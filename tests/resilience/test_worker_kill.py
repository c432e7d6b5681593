"""A worker killed with SIGKILL in the middle of 200 concurrent registrations and logins:
no acknowledged account is lost and no account is half-written (checked in SQL afterwards);
the supervisor replaces the worker and the provider keeps serving."""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from tests.resilience.conftest import PASSWORD, City, Launch
from tests.resilience.people import RP, Browser
from tests.resilience.procs import Provider, sql, wait_until

T = TypeVar("T")

REGISTRATIONS = 100
LOGINS = 100
RUN = secrets.token_hex(3)


def register(base_url: str, i: int) -> tuple[str, bool]:
    """(email, acknowledged): acknowledged = the "check your mailbox" page."""
    email = f"warga{i}.{RUN}@warga.tangsel.test"
    browser = Browser(base_url, timeout=120)
    try:
        r = browser.register(f"Warga {i}", email, f"Sandi-{RUN}-{i}-Tangsel!")
        return email, r.status_code == 200 and 'name="password_confirm"' not in r.text
    except (httpx.HTTPError, AssertionError):
        return email, False
    finally:
        browser.close()


def login(base_url: str, rp: RP) -> bool:
    """Acknowledged = the provider answered the password with its redirect and a session."""
    browser = Browser(base_url, timeout=120)
    try:
        interaction, csrf, _req = browser.login_page(rp)
        r = browser.submit_login(interaction, csrf, "siti", PASSWORD)
        return r.status_code == 303 and any(
            c.startswith("sso") or "session" in c for c in r.cookies
        )
    except (httpx.HTTPError, AssertionError):
        return False
    finally:
        browser.close()


def test_sigkill_of_a_worker_loses_no_acknowledged_account(city: City, launch: Launch) -> None:
    provider: Provider = launch(
        "kill",
        workers=2,
        # 200 people from one address in a minute: keep the per-IP limits out of this test
        rate_limit_ip_per_minute="0",
        registration_max_requests_ip="100000",
        login_max_failures_account_ip="100000",
        login_max_failures_account="100000",
        password_check_queue="64",
        password_check_max_wait="60",
    )
    workers = wait_until(
        lambda: len(provider.worker_pids()) == 2 and provider.worker_pids(), 30, "two workers"
    )
    sessions_before = sql(
        city.database_url,
        """SELECT count(*) FROM login_sessions s
                                               JOIN users u ON u.id = s.user_id
                                               WHERE u.username = 'siti'""",
    )[0][0]
    done = [0]
    lock = threading.Lock()
    killed = threading.Event()

    def counted(fn: Callable[..., T], *args: Any) -> T:
        result = fn(*args)
        with lock:
            done[0] += 1
            if done[0] == 40 and not killed.is_set():  # well into the run: kill a worker
                os.kill(workers[0], signal.SIGKILL)
                killed.set()
        return result

    with ThreadPoolExecutor(40) as pool:
        regs = [pool.submit(counted, register, provider.url, i) for i in range(REGISTRATIONS)]
        logs = [pool.submit(counted, login, provider.url, city.portal) for _ in range(LOGINS)]
        registered = [f.result() for f in regs]
        logged_in = [f.result() for f in logs]
    assert killed.is_set()

    acknowledged = [email for email, ok in registered if ok]
    assert acknowledged, "no registration was acknowledged"
    # Every acknowledged registration is there, whole: the account, its password, its
    # verification token and its audit event.
    rows = sql(
        city.database_url,
        """
        SELECT u.email,
               (SELECT count(*) FROM password_credentials p WHERE p.user_id = u.id),
               (SELECT count(*) FROM account_tokens t WHERE t.user_id = u.id),
               (SELECT count(*) FROM audit_events e
                 WHERE e.event = 'user.registered' AND e.target_id = u.id)
        FROM users u WHERE u.email LIKE %s""",
        f"%.{RUN}@warga.tangsel.test",
    )
    found = {email: counts for email, *counts in rows}
    missing = [email for email in acknowledged if email not in found]
    assert not missing, f"acknowledged but lost: {missing}"
    # No account of this run is half-written, acknowledged or not.
    half = {email: counts for email, counts in found.items() if counts != [1, 1, 1]}
    assert not half, f"half-written accounts: {half}"
    # Every acknowledged login has its session.
    sessions = sql(
        city.database_url,
        """SELECT count(*) FROM login_sessions s
                                        JOIN users u ON u.id = s.user_id
                                        WHERE u.username = 'siti'""",
    )[0][0]
    assert sessions - sessions_before >= sum(logged_in)
    # The killed worker was replaced and the provider serves on.
    wait_until(
        lambda: len(provider.worker_pids()) == 2 and workers[0] not in provider.worker_pids(),
        60,
        "a new worker",
    )
    assert Browser(provider.url).login(city.portal, "siti", PASSWORD)["id_token"]
