"""``/admin``: counts of people, apps and live sessions; app registrations waiting for review;
second-factor adoption among staff; accounts locked by the guessing limits; and sign-ins per
day over 14 days as a server-drawn SVG bar chart (axes, a title and description for screen
readers, and the same figures as a table), readable on a phone, no script."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.accounts.throttle import Throttle
from sso.admin.access import staff
from sso.admin.views import page
from sso.core.clock import now
from sso.core.events import Event
from sso.storage import admin_figures, audit_queries, people_search
from sso.storage import directory as dir_repo
from sso.storage import webhooks as webhook_repo
from sso.web.deps import SessionDep, runtime_of

router = APIRouter()
DAYS = 14
# The chart's own coordinates (the SVG scales to its box; text stays legible from 320 px).
WIDTH, HEIGHT = 360, 230
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 12, 50
# Failed attempts recorded against a known account: what the account's counters count.


def nice_top(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50 … at or above ``value`` (a round y-axis end)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


def chart(counts: dict[str, dict[date, int]], today: date) -> dict[str, Any]:
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    ok = counts.get(Event.USER_LOGIN, {})
    failed = counts.get(Event.USER_LOGIN_FAILED, {})
    top = nice_top(max([1, *ok.values(), *failed.values()]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    slot = plot_w / DAYS
    w = slot * 0.38

    def y(n: int) -> float:
        return round(base - plot_h * n / top, 2)

    bars = []
    for i, day in enumerate(days):
        n_ok, n_failed = ok.get(day, 0), failed.get(day, 0)
        x = LEFT + i * slot + slot * 0.12
        bars.append(
            {
                "day": day.strftime("%d-%m-%Y"),
                "iso": day.isoformat(),
                "logins": n_ok,
                "failed": n_failed,
                "x_ok": round(x, 2),
                "x_failed": round(x + w, 2),
                "w": round(w, 2),
                "y_ok": y(n_ok),
                "h_ok": round(base - y(n_ok), 2),
                "y_failed": y(n_failed),
                "h_failed": round(base - y(n_failed), 2),
                "label_x": round(LEFT + i * slot + slot / 2, 2),
                # Every other day is labelled (seven labels fit a phone), today always.
                "label": day.strftime("%d/%m") if (DAYS - 1 - i) % 2 == 0 else "",
            }
        )
    # 0, the middle and the top; an odd top (1, 5, 50 …) has no whole middle.
    ticks = [{"value": v, "y": y(v)} for v in ([0, top // 2, top] if top % 2 == 0 else [0, top])]
    busiest = max(bars, key=lambda b: (b["logins"], b["iso"]))
    return {
        "bars": bars,
        "ticks": ticks,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "base": base,
        "max": top,
        "x_title_y": HEIGHT - 8,
        "y_title_x": 12,
        "y_title_y": round(TOP + plot_h / 2, 2),
        "total_logins": sum(b["logins"] for b in bars),
        "total_failed": sum(b["failed"] for b in bars),
        "peak": f"{busiest['day']} ({busiest['logins']})" if busiest["logins"] else "—",
    }


@dataclass(frozen=True)
class Adoption:
    total: int
    with_mfa: int

    @property
    def percent(self) -> int:
        return round(100 * self.with_mfa / self.total) if self.total else 0


def locked_accounts(session: Session, throttle: Throttle) -> int:
    """Accounts whose password sign-in is refused right now (the rule is
    :meth:`Throttle.locked_accounts`, shared with the user list's filter)."""
    return len(throttle.locked_accounts(session))


@router.get("/admin")
def dashboard(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "dashboard.view")
    runtime = runtime_of(request)
    today = (now() + audit_queries.LOCAL_OFFSET).date()
    counts = audit_queries.daily_counts(
        session,
        [Event.USER_LOGIN, Event.USER_LOGIN_FAILED],
        today - timedelta(days=DAYS - 1),
        DAYS,
    )
    # People as the user list counts them: exact up to 10,000, the planner's estimate beyond
    # (an exact count of a million citizens alone took 300 ms; issue 13 bench).
    stats = [
        ("staff", people_search.total_users(session, people_search.UserQuery(kind="staff"))),
        ("citizens", people_search.total_users(session, people_search.UserQuery(kind="citizen"))),
        ("clients", people_search.Total(dir_repo.count_clients(session), estimated=False)),
        ("sessions", people_search.Total(dir_repo.count_live_sessions(session), estimated=False)),
    ]
    throttle = runtime.throttle
    return page(
        request,
        "admin/dashboard.html",
        who,
        {
            "counts": stats,
            "chart": chart(counts, today),
            "pending": admin_figures.pending_clients(session),
            "can_review": who.can("clients.manage"),
            "mfa": Adoption(*admin_figures.staff_mfa(session)),
            "locked": locked_accounts(session, throttle),
            # issue 16: subscriptions the webhook sender paused because they kept failing
            "webhooks_failing": webhook_repo.paused_for_failing(session)
            if who.can("webhooks.manage")
            else 0,
        },
    )
