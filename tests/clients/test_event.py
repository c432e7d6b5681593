"""The event site: registrations (people and teams), cancelling, organizers, capacity."""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tests.clients.conftest import RP, Provider, browser_client, csrf_from, login, start_rp
from tests.conftest import POSTGRES_URL


@pytest.fixture(scope="module")
def event_rp(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RP]:
    rp = start_rp(provider, "event", tmp_path_factory.mktemp("event"))
    provider.user("warga1")
    provider.user("warga2")
    provider.agency("DISKOMINFO", "Dinas Komunikasi dan Informatika")
    provider.user("rina", kind="staff", agency="DISKOMINFO", nip="198503122010012001")
    provider.grant_app_role(rp.client_id, "organizer", "rina")
    yield rp
    rp.server.stop()
    rp.toolkit.engine.dispose()


def new_event(rp: RP, *, kind: str = "talk", capacity: int = 10, team_size: int | None = None):
    from event import service
    from tangsel_rp.db import transaction
    from tangsel_rp.user import RPUser

    data = service.EventInput(
        title=f"{kind} {datetime.now().isoformat()}",
        kind=kind,
        description="",
        venue="Aula",
        starts_at=datetime.now() + timedelta(days=3),
        capacity=capacity,
        team_size=team_size,
    )
    organizer = RPUser("org", "Org", None, None, frozenset(), None, None, {})
    with transaction(rp.toolkit.sessions) as db:
        return service.create_event(db, data, organizer).id


def test_public_list_needs_no_login(event_rp):
    event_id = new_event(event_rp)
    with browser_client() as http:
        page = http.get(event_rp.url + "/")
        assert page.status_code == 200 and f"/events/{event_id}" in page.text
        assert '<html lang="id">' in page.text and "Acara mendatang" in page.text
        english = http.get(event_rp.url + "/", headers={"Accept-Language": "en-US,en;q=0.9"})
        assert "Upcoming events" in english.text
        detail = http.get(f"{event_rp.url}/events/{event_id}")
        assert "Masuk untuk mendaftar" in detail.text


def test_citizen_registers_sees_and_cancels(event_rp):
    event_id = new_event(event_rp, capacity=2)
    with browser_client() as http:
        page = login(http, event_rp, "warga1", f"/events/{event_id}")
        assert page.url.path == f"/events/{event_id}" and "Warga1" in page.text
        done = http.post(
            f"{event_rp.url}/events/{event_id}/register", data={"csrf_token": csrf_from(page.text)}
        )
        assert 'id="flash"' in done.text and 'id="registered"' in done.text
        again = http.post(
            f"{event_rp.url}/events/{event_id}/register", data={"csrf_token": csrf_from(page.text)}
        )
        assert "sudah terdaftar" in again.text or 'id="registered"' in again.text
        mine = http.get(f"{event_rp.url}/me")
        assert f"/events/{event_id}" in mine.text
        cancel_url = mine.text.split('action="/registrations/')[1].split('"')[0]
        cancelled = http.post(
            f"{event_rp.url}/registrations/{cancel_url}", data={"csrf_token": csrf_from(mine.text)}
        )
        assert "Pendaftaran dibatalkan" in cancelled.text
        assert f"/events/{event_id}" not in cancelled.text.split("<main>")[1]


def test_post_without_csrf_token_is_refused(event_rp):
    event_id = new_event(event_rp)
    with browser_client() as http:
        login(http, event_rp, "warga2")
        r = http.post(f"{event_rp.url}/events/{event_id}/register", data={})
        assert r.status_code == 403 and "Formulir kedaluwarsa" in r.text


def test_team_registration_needs_every_player(event_rp):
    event_id = new_event(event_rp, kind="tournament", capacity=4, team_size=3)
    with browser_client() as http:
        page = login(http, event_rp, "warga2", f"/events/{event_id}")
        assert page.text.count('name="members"') == 2
        token = csrf_from(page.text)
        url = f"{event_rp.url}/events/{event_id}/register"
        short = http.post(url, data={"csrf_token": token, "team_name": "Garuda", "members": ["A"]})
        assert 'id="problem"' in short.text and "semua pemain" in short.text
        ok = http.post(
            url, data={"csrf_token": token, "team_name": "Garuda", "members": ["Andi", "Budi"]}
        )
        assert "Tim: Garuda" in ok.text


def test_organizer_creates_edits_and_exports(event_rp):
    with browser_client() as citizen:
        login(citizen, event_rp, "warga1")
        assert citizen.get(f"{event_rp.url}/manage").status_code == 403
    with browser_client() as http:
        page = login(http, event_rp, "rina", "/manage")
        assert page.url.path == "/manage" and "Buat acara baru" in page.text
        form = http.get(f"{event_rp.url}/manage/events/new")
        bad = http.post(
            f"{event_rp.url}/manage/events/new",
            data={
                "csrf_token": csrf_from(form.text),
                "title": "",
                "kind": "tournament",
                "starts_at": "nope",
                "capacity": "0",
            },
        )
        assert bad.status_code == 400 and bad.text.count("<li>") >= 3
        made = http.post(
            f"{event_rp.url}/manage/events/new",
            data={
                "csrf_token": csrf_from(form.text),
                "title": "=Valorant Cup",
                "kind": "tournament",
                "starts_at": "2030-05-01T10:00",
                "capacity": "8",
                "team_size": "1",
                "venue": "Hub",
                "description": "Solo",
            },
        )
        assert made.url.path == "/manage" and "Valorant Cup" in made.text
        event_id = int(
            made.text.split("=Valorant Cup")[0].rsplit('id="manage-', 1)[1].split('"')[0]
        )
    with browser_client() as player:
        page = login(player, event_rp, "warga2", f"/events/{event_id}")
        player.post(
            f"{event_rp.url}/events/{event_id}/register",
            data={"csrf_token": csrf_from(page.text), "team_name": "=cmd|calc"},
        )
    with browser_client() as http:
        login(http, event_rp, "rina")
        edit = http.get(f"{event_rp.url}/manage/events/{event_id}/edit")
        too_small = http.post(
            f"{event_rp.url}/manage/events/{event_id}/edit",
            data={
                "csrf_token": csrf_from(edit.text),
                "title": "Valorant Cup",
                "kind": "tournament",
                "starts_at": "2030-05-01T10:00",
                "capacity": "0",
                "team_size": "1",
            },
        )
        assert too_small.status_code == 400
        export = http.get(f"{event_rp.url}/manage/events/{event_id}/registrants.csv")
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
        assert rows[0][:4] == ["registration_id", "name", "email", "team"]
        assert rows[1][1] == "Warga2" and rows[1][3] == "'=cmd|calc"  # no formula injection


@pytest.fixture(params=["sqlite", "postgres"])
def event_db(request: pytest.FixtureRequest, tmp_path) -> Iterator[object]:
    """The event site's own database, on SQLite (its default) and on PostgreSQL."""
    from event.models import Base
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from tangsel_rp.db import make_engine, make_sessionmaker

    admin = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'event.db'}"
    else:
        if not POSTGRES_URL:
            pytest.skip("SSO_TEST_POSTGRES_URL is not set")
        base = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
        name = f"{base.database}_event_{os.getpid()}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_capacity_holds_under_concurrent_registrations(event_db) -> None:
    """20 people register at once for 5 places, from 20 threads: exactly 5 get in."""
    from event import service
    from event.models import Event, Registration
    from sqlalchemy import func, select
    from tangsel_rp.db import transaction
    from tangsel_rp.user import RPUser

    data = service.EventInput(
        title="Final",
        kind="talk",
        description="",
        venue="Aula",
        starts_at=datetime.now() + timedelta(days=3),
        capacity=5,
        team_size=None,
    )
    organizer = RPUser("org", "Org", None, None, frozenset(), None, None, {})
    with transaction(event_db) as db:
        event_id = service.create_event(db, data, organizer).id
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        person = RPUser(f"sub-{n % 18}", f"P{n}", None, None, frozenset(), None, None, {})
        barrier.wait()
        try:
            with transaction(event_db) as db:
                service.register(db, event_id, person)
            outcomes.append("ok")
        except service.EventError as exc:
            outcomes.append(exc.key)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Two people try twice (sub-0, sub-1): a double registration never takes a second seat.
    assert outcomes.count("ok") == 5, outcomes
    assert set(outcomes) <= {"ok", "register.full", "register.already"}
    with transaction(event_db) as db:
        count = db.scalar(
            select(func.count()).select_from(Registration).where(Registration.event_id == event_id)
        )
        assert count == 5 and db.get(Event, event_id).seats_taken == 5
