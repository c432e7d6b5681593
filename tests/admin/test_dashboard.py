"""The admin dashboard (issue 13): figures for seeded data (pending app registrations, staff
two-step adoption, accounts locked now, sign-ins per day), the review badge in the menu, and a
chart with axes, a title, a description and a data table."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.admin import dashboard
from sso.core import events as ev
from sso.core.events import Event
from sso.db.models import AuditEvent, User
from sso.runtime import Runtime
from sso.storage import audit
from tests.admin.conftest import Browser, events, person
from tests.factories import create_client, create_user, enrol_totp
from tests.oidc.flow import csrf_of

NIPS = ("199601012021011001", "199602022021022002", "199603032021031003", "199604042021042004")
WIB = timedelta(hours=7)


def put(db: Session, event: str, at: datetime, **kw: Any) -> None:
    # Any name, as rows written by another version of the app may carry one this one lacks.
    values = audit.event_values(cast(Event, event), **kw)
    values["created_at"] = at
    audit.write(db, values)
    db.commit()


def fail_logins(app: FastAPI, username: str, times: int) -> list[int]:
    """Wrong passwords typed at the login page, as a person would; the status of each."""
    http = TestClient(app, base_url="http://testserver", headers={"accept": "text/html"})
    r = http.get("/account", follow_redirects=False)
    r = http.get(r.headers["location"], follow_redirects=False)
    interaction = r.headers["location"]
    statuses = []
    for _ in range(times):
        page = http.get(interaction)
        r = http.post(
            f"{interaction}/login",
            data={
                "username": username,
                "password": "salah-sekali-123",
                "csrf_token": csrf_of(page.text),
            },
            follow_redirects=False,
        )
        statuses.append(r.status_code)
    http.close()
    return statuses


def stat(html: str, name: str) -> str:
    found = re.search(rf'data-stat="{name}">([^<]*)<', html)
    assert found, name
    return found.group(1)


def test_dashboard_figures_for_seeded_data(
    app: FastAPI, admin: Browser, auditor: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    # Staff: adminkota and pemeriksa (with TOTP), one more with TOTP, two without; a disabled
    # one with TOTP and a citizen with TOTP do not count.
    person(runtime, db, "pegawaia", nip=NIPS[0])
    person(runtime, db, "pegawaib", nip=NIPS[1], mfa=False)
    person(runtime, db, "pegawaic", nip=NIPS[2], mfa=False)
    gone, _ = person(runtime, db, "pegawaid", nip=NIPS[3])
    db.get_one(User, gone.id).status = "disabled"
    db.commit()
    citizen = create_user(runtime, db, username="wargasatu")
    enrol_totp(runtime, db, citizen)
    # Apps: two registrations wait for review, one is live.
    create_client(runtime, db, name="Aplikasi Menunggu 1", status="pending")
    create_client(runtime, db, name="Aplikasi Menunggu 2", status="pending")
    create_client(runtime, db, name="Aplikasi Jalan")
    # pegawaib types a wrong password until the guessing limit locks the account (from this
    # address); wargasatu only twice (not locked).
    limit = runtime.settings.login_max_failures_account_ip
    statuses = fail_logins(app, "pegawaib", limit + 1)
    assert statuses[-1] == 429 and 429 not in statuses[:-1]
    fail_logins(app, "wargasatu", 2)

    html = admin.get("/admin").text
    assert stat(html, "pending") == "2"
    assert 'href="/admin/clients?status=pending"' in html
    assert stat(html, "mfa") == "60%"  # 3 of 5 active staff
    assert stat(html, "mfa-counts") == "3 dari 5 pegawai aktif"
    assert stat(html, "locked") == "1"
    assert stat(html, "staff") == "6" and stat(html, "citizens") == "1"
    # The auditor sees the figures, but no link to a page they may not open, and no badge.
    seen = auditor.get("/admin").text
    assert stat(seen, "pending") == "2" and "/admin/clients" not in seen
    # English.
    en = admin.get("/admin?lang=en").text
    assert "3 of 5 active staff" in en and "Staff with two-step verification" in en
    assert events(
        db,
        ev.Event.USER_LOGIN_FAILED,
        target_id=db.scalar(select(User.id).where(User.username == "pegawaib")),
    )


def test_pending_registrations_badge_in_the_menu(
    admin: Browser, auditor: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    menu = re.compile(
        r'<a href="/admin/clients"[^>]*>[^<]*<span class="badge nav-badge" '
        r'aria-label="([^"]+)">(\d+)</span></a>'
    )
    assert not menu.search(admin.get("/admin").text)  # nothing waiting: no badge
    for i in range(3):
        create_client(runtime, db, name=f"Pendaftaran {i}", status="pending")
    for path in ("/admin", "/admin/audit", "/admin/clients"):
        found = menu.search(admin.get(path).text)
        assert found and found.group(2) == "3", path
        assert found.group(1) == "3 menunggu tinjauan"
    en = menu.search(admin.get("/admin?lang=en").text)
    assert en and en.group(1) == "3 waiting for review"
    assert "nav-badge" not in auditor.get("/admin").text


def test_chart_has_axes_title_description_and_a_table(
    admin: Browser, db: Session, backend: str
) -> None:
    now = datetime.now(UTC)
    today = (now + WIB).date()
    noon = datetime(today.year, today.month, today.day, 5, tzinfo=UTC)  # 12:00 WIB
    for _ in range(7):
        put(db, ev.Event.USER_LOGIN, noon - timedelta(days=2), actor_id=admin.user.id)
    put(db, ev.Event.USER_LOGIN_FAILED, noon - timedelta(days=13), outcome="failure")
    for _ in range(4):  # 15 days ago: outside the chart
        put(db, ev.Event.USER_LOGIN, noon - timedelta(days=15), actor_id=admin.user.id)
    # What the chart must show: the log's own counts per WIB day of the last 14 days.
    expected: dict[str, list[int]] = {}
    for e in db.scalars(
        select(AuditEvent).where(
            AuditEvent.event.in_([ev.Event.USER_LOGIN, ev.Event.USER_LOGIN_FAILED])
        )
    ):
        day = (e.created_at + WIB).date()
        if (today - day).days < 14:
            counts = expected.setdefault(day.strftime("%d-%m-%Y"), [0, 0])
            counts[0 if e.event == ev.Event.USER_LOGIN else 1] += 1
    html = admin.get("/admin").text
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg and 'aria-labelledby="chart-title chart-desc"' in svg
    assert '<title id="chart-title">Login per hari, 14 hari terakhir</title>' in svg
    desc = re.search(r'<desc id="chart-desc">([^<]+)</desc>', svg)
    total_ok = sum(c[0] for c in expected.values())
    assert desc and f"{total_ok} login berhasil" in desc.group(1)
    # Axes: two lines, y ticks from 0 to a round top, seven day labels, both axis titles.
    assert svg.count('class="axis axis--y"') == 1 and svg.count('class="axis axis--x"') == 1
    ticks = [
        int(t) for t in re.findall(r'<text class="tick" [^>]*text-anchor="end"[^>]*>(\d+)<', svg)
    ]
    assert ticks[0] == 0 and ticks[-1] >= max(c[0] for c in expected.values())
    assert ticks[-1] == dashboard.nice_top(ticks[-1])
    days = re.findall(r'<text class="tick" [^>]*text-anchor="middle"[^>]*>(\d\d/\d\d)<', svg)
    assert len(days) == 7 and days[-1] == today.strftime("%d/%m")
    assert ">Jumlah</text>" in svg and ">Tanggal (WIB)</text>" in svg
    assert svg.count('<g class="day"') == 14
    # The bars: heights in proportion, the tallest against the axis' top.
    heights = [float(h) for h in re.findall(r'class="bar bar--ok"[^>]*height="([\d.]+)"', svg)]
    plot_h = dashboard.HEIGHT - dashboard.TOP - dashboard.BOTTOM
    assert max(heights) == round(plot_h * max(c[0] for c in expected.values()) / ticks[-1], 2)
    # The table holds every day, newest first, with the same figures.
    table = html[html.index('id="chart-table"') :]
    rows = re.findall(
        r'<th scope="row"[^>]*>([\d-]+)</th><td[^>]*>(\d+)</td><td[^>]*>(\d+)</td>', table
    )
    assert len(rows) == 14 and rows[0][0] == today.strftime("%d-%m-%Y")
    assert {d: [int(a), int(b)] for d, a, b in rows if int(a) or int(b)} == expected
    two_days_ago = (today - timedelta(days=2)).strftime("%d-%m-%Y")
    assert expected[two_days_ago][0] >= 7


def test_nice_top_and_empty_chart() -> None:
    assert [dashboard.nice_top(n) for n in (0, 1, 2, 3, 6, 11, 49, 51, 100, 101)] == [
        1,
        1,
        2,
        5,
        10,
        20,
        50,
        100,
        100,
        200,
    ]
    today = datetime(2026, 12, 7, tzinfo=UTC).date()
    chart = dashboard.chart({}, today)
    assert chart["max"] == 1 and chart["peak"] == "—" and len(chart["bars"]) == 14
    assert all(b["h_ok"] == 0 and b["h_failed"] == 0 for b in chart["bars"])
