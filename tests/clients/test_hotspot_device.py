"""The hotspot portal for devices without a browser (smart TVs, kiosks): the OAuth 2.0 Device
Authorization Grant (RFC 8628). The TV starts the login at the portal and shows the user
code; a person approves it on their phone at the provider (``/device``, login, consent); the
portal's server-side polling gets the tokens and the gateway then lets the TV's MAC online.
Polling waits the provider's ``interval`` (5 s), so each approval takes about that long."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.clients.conftest import (
    HTTP,
    PASSWORD,
    RP,
    Provider,
    browser_client,
    csrf_from,
    form_of,
    start_rp,
    wait_until,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GATEWAY = {"Authorization": "Bearer gateway-secret-for-device-tests"}
QUOTA = 3600
USER_CODE_RE = re.compile(r"^[A-Z]{4}-[A-Z]{4}$")
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def hotspot(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RP]:
    # Not trusted, so the person sees (and may refuse) the consent page.
    rp = start_rp(
        provider,
        "hotspot",
        tmp_path_factory.mktemp("hotspot-device"),
        grant_types=("authorization_code", "refresh_token", DEVICE_GRANT),
        trusted=False,
        daily_quota=QUOTA,
        gateway_token="gateway-secret-for-device-tests",
    )
    from hotspot import service
    from tangsel_rp.db import transaction

    with transaction(rp.toolkit.sessions) as db:
        service.add_location(db, "TSL-0100", "Perpustakaan Kota", 0)
    for name in ("gita", "hadi"):
        provider.user(name)
    yield rp
    rp.server.stop()
    rp.toolkit.engine.dispose()


def decision(rp: RP, mac: str, location: str = "TSL-0100") -> dict[str, Any]:
    r = HTTP.get(
        f"{rp.url}/api/gateway/decision",
        params={"mac": mac, "location": location},
        headers=GATEWAY,
    )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def device_status(rp: RP, login_id: str) -> dict[str, Any]:
    r = HTTP.get(f"{rp.url}/api/device/{login_id}")
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def phone_answers(provider: Provider, username: str, user_code: str, answer: str) -> str:
    """The person's phone: the provider's /device page, the code, login, consent."""
    with browser_client() as phone:
        page = phone.get(f"{provider.url}/device")
        assert page.status_code == 200
        page = phone.post(
            f"{provider.url}/device",
            data={"user_code": user_code, "csrf_token": csrf_from(page.text)},
        )
        assert 'name="password"' in page.text, page.text[:1500]
        action, csrf = form_of(page.text)
        page = phone.post(
            httpx.URL(str(page.url)).join(action),
            data={"username": username, "password": PASSWORD, "csrf_token": csrf},
        )
        assert 'name="decision"' in page.text, page.text[:1500]
        page = phone.post(
            f"{str(page.url).split('?')[0]}/consent",
            data={"decision": answer, "csrf_token": csrf_from(page.text)},
        )
        assert page.url.path == "/device/done", page.url
        return page.text


def test_a_tv_logs_in_with_a_user_code_and_the_gateway_lets_it_online(
    hotspot: RP, provider: Provider
) -> None:
    tv_mac = "AA:BB:CC:00:01:01"
    with browser_client() as tv:
        start = tv.get(
            f"{hotspot.url}/device", params={"location": "TSL-0100", "mac": "aabbcc000101"}
        )
        assert start.status_code == 200 and 'id="device-start"' in start.text
        shown = tv.post(
            f"{hotspot.url}/device/start", data={"location": "TSL-0100", "mac": "aabbcc000101"}
        )
        assert shown.status_code == 200 and 'id="user-code"' in shown.text
        assert shown.headers["refresh"] == "5"  # the TV's page asks again by itself
        login_id = shown.url.path.rsplit("/", 1)[1]
    state = device_status(hotspot, login_id)
    assert state["status"] == "pending" and USER_CODE_RE.fullmatch(state["user_code"])
    assert state["user_code"] in shown.text and "Perpustakaan Kota" in shown.text
    assert state["verification_uri"] == f"{provider.url}/device"
    assert state["verification_uri"] in shown.text
    assert state["verification_uri_complete"].endswith(f"user_code={state['user_code']}")
    assert "device_code" not in state
    # Before anyone approves: pending, and the gateway keeps the TV out.
    assert decision(hotspot, tv_mac)["authorized"] is False

    done = phone_answers(provider, "gita", state["user_code"], "allow")
    assert "Perangkat terhubung" in done

    assert wait_until(lambda: device_status(hotspot, login_id)["status"] != "pending", 15)
    assert device_status(hotspot, login_id)["status"] == "connected"
    allowed = decision(hotspot, tv_mac)
    assert allowed["authorized"] is True and 0 < allowed["seconds_left"] <= QUOTA
    page = HTTP.get(f"{hotspot.url}/device/{login_id}", headers={"Accept-Language": "en"})
    assert 'id="device-connected"' in page.text and "refresh" not in page.headers


def test_a_declined_request_leaves_the_device_offline(hotspot: RP, provider: Provider) -> None:
    tv_mac = "AA:BB:CC:00:01:02"
    r = HTTP.post(
        f"{hotspot.url}/device/start", data={"location": "TSL-0100", "mac": tv_mac}, headers=JSON
    )
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["status"] == "pending" and started["interval"] == 5

    phone_answers(provider, "hadi", started["user_code"], "deny")

    assert wait_until(lambda: device_status(hotspot, started["id"])["status"] != "pending", 15)
    assert device_status(hotspot, started["id"])["status"] == "denied"
    assert decision(hotspot, tv_mac)["authorized"] is False
    page = HTTP.get(f"{hotspot.url}/device/{started['id']}")
    assert 'id="device-denied"' in page.text and "ditolak" in page.text


def test_bad_device_values_and_unknown_requests_are_readable_pages(hotspot: RP) -> None:
    bad = HTTP.post(f"{hotspot.url}/device/start", data={"location": "TSL-0100", "mac": "12"})
    assert bad.status_code == 400 and "tidak valid" in bad.text
    unknown = HTTP.get(
        f"{hotspot.url}/device", params={"location": "NOPE", "mac": "AA:BB:CC:00:01:03"}
    )
    assert unknown.status_code == 404 and "tidak dikenal" in unknown.text
    assert HTTP.get(f"{hotspot.url}/device/nope").status_code == 404
    assert HTTP.get(f"{hotspot.url}/api/device/nope").status_code == 404
