"""Redis unavailable: logins keep working, the guessing protection counts in the database
meanwhile (a lock still happens), and Redis is used again once it is back."""

from __future__ import annotations

import redis

from tests.resilience.conftest import PASSWORD, City, Launch
from tests.resilience.people import Browser
from tests.resilience.procs import Provider, RedisServer, sql, wait_until

THROTTLE_KEYS = "sso:throttle:*"


def wrong_password(provider: Provider, rp: object, username: str) -> int:
    browser = Browser(provider.url)
    try:
        interaction, csrf, _req = browser.login_page(rp)  # type: ignore[arg-type]
        return browser.submit_login(interaction, csrf, username, "not-the-password").status_code
    finally:
        browser.close()


def test_logins_survive_a_redis_outage(city: City, launch: Launch) -> None:
    own = RedisServer()
    own.start()
    try:
        provider: Provider = launch("redis", redis_url=own.url)
        client = redis.Redis(host="127.0.0.1", port=own.port)
        rp = city.portal
        assert Browser(provider.url).login(rp, "ani", PASSWORD)["id_token"]
        assert wrong_password(provider, rp, "ani") == 401
        assert client.keys(THROTTLE_KEYS), "counters are in Redis while it is up"

        own.stop()
        before = sql(city.database_url, "SELECT count(*) FROM throttle_counters")[0][0]
        # Logins go on ...
        for _ in range(2):
            assert Browser(provider.url).login(rp, "siti", PASSWORD)["id_token"]
        # ... and guessing is still limited, now counted in the database.
        answers = [wrong_password(provider, rp, "ani") for _ in range(6)]
        assert answers[:4] == [401] * 4 and 429 in answers, answers
        after = sql(city.database_url, "SELECT count(*) FROM throttle_counters")[0][0]
        assert after > before

        own.start()  # same port, empty
        # Redis is tried again (every 30 s): counters reappear there, logins never stopped.
        guesses = iter(range(1000))

        def back_in_redis() -> bool:
            # unknown accounts are counted like real ones; a new one each time locks nobody
            wrong_password(provider, rp, f"tamu{next(guesses)}")
            return bool(client.keys(THROTTLE_KEYS))

        wait_until(back_in_redis, 90, "counters in Redis again", interval=3)
        assert Browser(provider.url).login(rp, "siti", PASSWORD)["id_token"]
    finally:
        own.stop()
