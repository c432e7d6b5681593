"""The hotspot portal: the access point's redirect, the daily quota, the gateway's decision
API and the operators' usage page. The portal's clock is moved by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.clients.conftest import HTTP, RP, Provider, browser_client, csrf_from, login, start_rp

GATEWAY = {"Authorization": "Bearer gateway-secret-for-tests"}
QUOTA = 3600
WIB = ZoneInfo("Asia/Jakarta")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def set(self, text: str) -> None:
        self.now = datetime.fromisoformat(text).replace(tzinfo=WIB).timestamp()

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def hotspot(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RP]:
    rp = start_rp(
        provider,
        "hotspot",
        tmp_path_factory.mktemp("hotspot"),
        daily_quota=QUOTA,
        gateway_token="gateway-secret-for-tests",
    )
    from hotspot import service
    from tangsel_rp.db import transaction

    with transaction(rp.toolkit.sessions) as db:
        service.add_location(db, "TSL-0001", "Taman Kota 1", 0)
        service.add_location(db, "TSL-0002", "Alun-alun Ciputat", 0)
    for name in ("dewi", "eko", "fajar"):
        provider.user(name)
    provider.agency("DISKOMINFO", "Dinas Komunikasi dan Informatika")
    provider.user("agus", kind="staff", agency="DISKOMINFO", nip="198503122010011001")
    provider.grant_app_role(rp.client_id, "hotspot-operator", "agus")
    yield rp
    rp.server.stop()
    rp.toolkit.engine.dispose()


@pytest.fixture
def clock(hotspot: RP) -> Clock:
    clock = Clock()
    hotspot.app.state.clock = clock
    return clock


def join(http: httpx.Client, rp: RP, username: str, location: str, mac: str) -> httpx.Response:
    """The phone joins the Wi-Fi: the access point redirects it to the portal; log in."""
    landing = http.get(f"{rp.url}/", params={"location": location, "mac": mac})
    assert landing.status_code == 200, landing.text
    if 'id="portal-login"' in landing.text:
        return login(http, rp, username, "/status")
    return landing


def connect(http: httpx.Client, rp: RP, page: httpx.Response) -> httpx.Response:
    return http.post(f"{rp.url}/connect", data={"csrf_token": csrf_from(page.text)})


def decision(rp: RP, mac: str, location: str = "TSL-0001") -> dict[str, Any]:
    r = HTTP.get(
        f"{rp.url}/api/gateway/decision",
        params={"mac": mac, "location": location},
        headers=GATEWAY,
    )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_daily_quota_is_counted_across_sessions_and_renewed_the_next_day(
    hotspot: RP, clock: Clock
) -> None:
    clock.set("2030-01-15T08:00:00")
    phone, laptop = "AA:BB:CC:00:00:01", "aa-bb-cc-00-00-02"
    with browser_client() as http:
        status = join(http, hotspot, "dewi", "TSL-0001", phone.lower())
        assert status.url.path == "/status" and "Taman Kota 1" in status.text
        assert decision(hotspot, phone)["authorized"] is False
        online = connect(http, hotspot, status)
        assert 'id="online"' in online.text
        assert decision(hotspot, phone) == {
            "mac": phone,
            "location": "TSL-0001",
            "authorized": True,
            "seconds_left": QUOTA,
            "expires_at": int(clock.now) + QUOTA,
        }
        clock.advance(1000)
        assert decision(hotspot, phone)["seconds_left"] == QUOTA - 1000
        off = http.post(f"{hotspot.url}/disconnect", data={"csrf_token": csrf_from(online.text)})
        assert 'id="flash"' in off.text and decision(hotspot, phone)["authorized"] is False
        clock.advance(500)  # offline time is not counted
        assert 'data-seconds="2600"' in http.get(f"{hotspot.url}/status").text

        # The same person on another device, at another point: the rest of the same quota.
        status = join(http, hotspot, "dewi", "TSL-0002", laptop)
        connect(http, hotspot, status)
        assert decision(hotspot, "AA:BB:CC:00:00:02", "TSL-0002")["seconds_left"] == 2600
        clock.advance(2600)
        assert decision(hotspot, "AA:BB:CC:00:00:02", "TSL-0002")["authorized"] is False
        used_up = http.get(f"{hotspot.url}/status")
        assert 'id="quota-used"' in used_up.text and 'id="connect"' not in used_up.text
        refused = connect(http, hotspot, used_up)
        assert refused.status_code == 403 and "sudah habis" in refused.text

        clock.set("2030-01-16T07:00:00")  # a new day, a full quota
        again = connect(http, hotspot, http.get(f"{hotspot.url}/status"))
        assert 'id="online"' in again.text
        assert decision(hotspot, "AA:BB:CC:00:00:02", "TSL-0002")["seconds_left"] == QUOTA


def test_a_session_ends_at_midnight_and_one_device_at_a_time(hotspot: RP, clock: Clock) -> None:
    clock.set("2030-02-01T23:30:00")
    with browser_client() as http:
        status = join(http, hotspot, "eko", "TSL-0001", "AA:BB:CC:00:00:11")
        connect(http, hotspot, status)
        assert decision(hotspot, "AA:BB:CC:00:00:11")["seconds_left"] == 1800
        status = join(http, hotspot, "eko", "TSL-0001", "AA:BB:CC:00:00:12")
        assert 'id="elsewhere"' in status.text
        connect(http, hotspot, status)
        assert decision(hotspot, "AA:BB:CC:00:00:11")["authorized"] is False
        assert decision(hotspot, "AA:BB:CC:00:00:12")["authorized"] is True


def test_gateway_api_needs_its_token_and_valid_input(hotspot: RP, clock: Clock) -> None:
    url = f"{hotspot.url}/api/gateway/decision"
    params = {"mac": "AA:BB:CC:00:00:01", "location": "TSL-0001"}
    assert HTTP.get(url, params=params).status_code == 401
    wrong = HTTP.get(url, params=params, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    bad = HTTP.get(url, params={"mac": "zz", "location": "TSL-0001"}, headers=GATEWAY)
    assert bad.status_code == 400


def test_access_point_redirect_with_bad_values_gets_a_readable_page(
    hotspot: RP, clock: Clock
) -> None:
    with browser_client() as http:
        unknown = http.get(
            f"{hotspot.url}/", params={"location": "NOPE", "mac": "AA:BB:CC:00:00:01"}
        )
        assert unknown.status_code == 404 and "tidak dikenal" in unknown.text
        bad_mac = http.get(f"{hotspot.url}/", params={"location": "TSL-0001", "mac": "12345"})
        assert bad_mac.status_code == 400 and "tidak valid" in bad_mac.text
        plain = http.get(f"{hotspot.url}/")
        assert plain.status_code == 200 and 'id="no-device"' in plain.text


def test_operators_see_usage_per_location(hotspot: RP, clock: Clock) -> None:
    clock.set("2030-03-10T10:00:00")
    with browser_client() as http:
        status = join(http, hotspot, "fajar", "TSL-0002", "AA:BB:CC:00:00:21")
        connect(http, hotspot, status)
        clock.advance(600)
        assert http.get(f"{hotspot.url}/operator").status_code == 403
    with browser_client() as http:
        page = login(http, hotspot, "agus", "/operator")
        assert page.url.path == "/operator"
        row = page.text.split('id="usage-TSL-0002"')[1].split("</tr>")[0]
        assert 'data-seconds="600"' in page.text.split('id="usage-TSL-0002"')[1][:40]
        assert "<td>1</td><td>1</td>" in row and "0 jam 10 menit" in row
        other_day = http.get(f"{hotspot.url}/operator", params={"day": "2030-03-09"})
        assert 'data-seconds="0"' in other_day.text.split('id="usage-TSL-0002"')[1][:40]
        added = http.post(
            f"{hotspot.url}/operator/locations",
            data={"csrf_token": csrf_from(page.text), "code": "TSL-0999", "name": "Situ Gintung"},
        )
        assert 'id="usage-TSL-0999"' in added.text and 'id="flash"' in added.text
