"""``/admin``: counts of people, clients and live sessions, and logins / failed logins per
day for the last 30 days as server-drawn SVG bars (no script)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sso.admin.access import staff
from sso.admin.views import page
from sso.core import events
from sso.core.clock import now
from sso.storage import audit_queries
from sso.storage import directory as dir_repo
from sso.web.deps import SessionDep

router = APIRouter()
DAYS = 30
WIDTH, HEIGHT = 600, 160


def chart(counts: dict[str, dict[date, int]], today: date) -> dict[str, Any]:
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    ok = counts.get(events.USER_LOGIN, {})
    failed = counts.get(events.USER_LOGIN_FAILED, {})
    top = max([1, *ok.values(), *failed.values()])
    slot = WIDTH / DAYS
    w = slot * 0.4
    bars = []
    for i, day in enumerate(days):
        n_ok, n_failed = ok.get(day, 0), failed.get(day, 0)
        h_ok, h_failed = HEIGHT * n_ok / top, HEIGHT * n_failed / top
        bars.append({
            "day": day.isoformat(), "logins": n_ok, "failed": n_failed,
            "x": round(i * slot + slot * 0.1, 2), "w": round(w, 2),
            "h_ok": round(h_ok, 2), "y_ok": round(HEIGHT - h_ok, 2),
            "h_failed": round(h_failed, 2), "y_failed": round(HEIGHT - h_failed, 2),
            "label": day.strftime("%d/%m") if i % 5 == 0 else "",
        })
    return {"bars": bars, "width": WIDTH, "height": HEIGHT, "max": top,
            "total_logins": sum(ok.values()), "total_failed": sum(failed.values())}


@router.get("/admin")
def dashboard(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "dashboard.view")
    today = (now() + audit_queries.LOCAL_OFFSET).date()
    counts = audit_queries.daily_counts(
        session, [events.USER_LOGIN, events.USER_LOGIN_FAILED],
        today - timedelta(days=DAYS - 1), DAYS,
    )
    stats = [
        ("staff", dir_repo.count_users(session, "staff")),
        ("citizens", dir_repo.count_users(session, "citizen")),
        ("clients", dir_repo.count_clients(session)),
        ("sessions", dir_repo.count_live_sessions(session)),
    ]
    return page(request, "admin/dashboard.html", who,
                {"counts": stats, "chart": chart(counts, today)})
