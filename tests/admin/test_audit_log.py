"""The audit log as people read it (issue 13): names instead of ids, events in words in both
languages, a category multi-select, person / app / date filters, WIB times, the message for an
empty filter, pages both ways, one event's detail with its ids, and CSV with names and ids and
nothing secret."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, cast

from sqlalchemy.orm import Session

from sso.core import events as ev
from sso.core.events import Event
from sso.runtime import Runtime
from sso.storage import audit
from sso.web import event_labels
from sso.web.i18n import translate
from sso.web.templating import env
from tests.admin.conftest import Browser, events, person
from tests.factories import create_client

ROOT = Path(__file__).resolve().parents[2]
NIP_X = "199505052020051005"
NIK = "3674012345678901"
SECRET = "s3cr3t-never-shown-9f8e7d"


def put(db: Session, event: str, at: datetime | None = None, **kw: Any) -> None:
    """An audit row as the app writes it (at ``at`` when given)."""
    # Any name, as rows written by another version of the app may carry one this one lacks.
    values = audit.event_values(cast(Event, event), **kw)
    if at is not None:
        values["created_at"] = at
    audit.write(db, values)
    db.commit()


def shown_events(html: str) -> list[str]:
    return re.findall(r'<tr data-event="([^"]+)"', html)


def shown_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/admin/audit/(\d+)', html)]


def link(html: str, element_id: str) -> str | None:
    found = re.search(rf'id="{element_id}" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


# ---------------------------------------------------------------------------- labels


def test_every_event_name_has_a_label_in_both_languages_and_a_category() -> None:
    recorded = {e.value for e in ev.Event}
    assert "user.login" in recorded and {"device_code.issued", "key.retired"} <= recorded
    # The enum is closed: sso.storage.audit.record takes an Event, so strict mypy refuses any
    # other name.
    missing = sorted(recorded - event_labels.LABELS.keys())
    assert missing == []
    for name, found in event_labels.LABELS.items():
        assert found.id.strip() and found.en.strip(), name
        assert found.category in event_labels.CATEGORIES[:-1], name
        assert event_labels.label(name, "id") == found.id
        assert event_labels.label(name, "en") == found.en
    for kind in event_labels.TARGET_TYPES:
        assert event_labels.target_type_label(kind, "id") != event_labels.target_type_label(
            kind, "en"
        )
    for category in event_labels.CATEGORIES:
        assert event_labels.category_label(category, "id") != event_labels.category_label(
            category, "en"
        )
    # Categories cut the names into parts: none in two, "other" holds none.
    per_category = [set(event_labels.names_in([c])) for c in event_labels.CATEGORIES]
    assert sum(len(s) for s in per_category) == len(event_labels.LABELS)
    assert event_labels.names_in([event_labels.OTHER]) == []
    assert event_labels.label("something.new", "id") == "something.new"


# ---------------------------------------------------------------------------- the page


def test_names_instead_of_ids_and_ids_on_the_detail(
    admin: Browser, auditor: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    target, _ = person(runtime, db, "pegawaix", agency="BIDANG-TI", nip=NIP_X, mfa=False)
    app, _ = create_client(runtime, db, name="Portal Satu Data")
    put(db, ev.Event.USER_DISABLED, actor_id=admin.user.id, target_type="user", target_id=target.id)
    put(
        db,
        ev.Event.CLIENT_SECRET_ROTATED,
        actor_id=admin.user.id,
        target_type="client",
        target_id=app.client_id,
        client_id=app.client_id,
    )
    grant_id = "0f6c2a9e-5b1d-4c3e-9a7f-2d8e1b4c6a90"
    put(
        db, ev.Event.GRANT_REVOKED, target_type="grant", target_id=grant_id, client_id=app.client_id
    )
    html = auditor.get("/admin/audit").text
    assert "Izin akses (grant)" in html and grant_id not in html
    assert "Adminkota (adminkota)" in html and "Pegawaix (pegawaix)" in html
    assert "Portal Satu Data" in html
    assert "Akun dinonaktifkan" in html and "Rahasia aplikasi diganti" in html
    # The list names; it does not show ids.
    for an_id in (admin.user.id, target.id, app.client_id):
        assert an_id not in html
    assert "Waktu (WIB)" in html and "Waktu (UTC)" not in html and " UTC<" not in html
    # One event's page shows the names and the ids.
    disabled = events(db, ev.Event.USER_DISABLED)[-1]
    detail = auditor.get(f"/admin/audit/{disabled.id}")
    assert detail.status_code == 200
    assert "Pegawaix (pegawaix)" in detail.text and target.id in detail.text
    assert admin.user.id in detail.text and "<code>user.disabled</code>" in detail.text
    revoked = events(db, ev.Event.GRANT_REVOKED)[-1]
    assert grant_id in auditor.get(f"/admin/audit/{revoked.id}").text
    # English too.
    en = auditor.get("/admin/audit?lang=en").text
    assert "Account disabled" in en and "App secret rotated" in en and "Time (WIB)" in en
    # No such event, or not a number: a 404 page, never a 500.
    assert auditor.get("/admin/audit/999999999").status_code == 404
    assert auditor.get("/admin/audit/abc").status_code == 404
    assert auditor.get("/admin/audit/99999999999999999999999").status_code == 404
    # A person deleted since is shown by the id that is left.
    put(db, ev.Event.USER_LOGIN, actor_id="00000000-0000-0000-0000-00000000dead")
    assert "00000000-0000-0000-0000-00000000dead" in auditor.get("/admin/audit").text


def test_category_filter_takes_several_and_other_filters_narrow(
    admin: Browser, auditor: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    app, _ = create_client(runtime, db, name="Layanan Perizinan")
    other_app, _ = create_client(runtime, db, name="Hotspot Kota")
    put(db, ev.Event.KEY_CREATED, target_type="signing_key", target_id="kid-1")
    put(
        db,
        ev.Event.CLIENT_CREATED,
        actor_id=admin.user.id,
        target_type="client",
        target_id=app.client_id,
        client_id=app.client_id,
    )
    put(db, ev.Event.TOKEN_ISSUED, client_id=other_app.client_id, actor_id=admin.user.id)
    put(db, "custom.thing")
    html = auditor.get("/admin/audit?cat=signin&cat=key").text
    shown = set(shown_events(html))
    assert {"user.login", "mfa.verified", "key.created"} <= shown
    assert all(event_labels.category_of(e) in ("signin", "key") for e in shown)
    assert 'id="cat-signin" name="cat" value="signin" checked' in html
    assert 'id="cat-key" name="cat" value="key" checked' in html
    assert 'id="cat-client" name="cat" value="client">' in html
    # The export link and the page links keep the filters.
    assert "cat=signin&amp;cat=key" in html
    # "Other": names without a label.
    assert set(shown_events(auditor.get("/admin/audit?cat=other").text)) == {"custom.thing"}
    apps_and_tokens = set(shown_events(auditor.get("/admin/audit?cat=client&cat=token").text))
    assert {"client.created", "token.issued"} <= apps_and_tokens
    assert {event_labels.category_of(e) for e in apps_and_tokens} == {"client", "token"}
    # By app: part of its name, any case, or its client_id.
    by_name = auditor.get("/admin/audit?client=perizinan").text
    assert "client.created" in shown_events(by_name) and "token.issued" not in shown_events(by_name)
    assert "Hotspot Kota" not in by_name.split("<tbody>")[1]
    by_id = auditor.get(f"/admin/audit?client={other_app.client_id}").text
    assert "token.issued" in shown_events(by_id) and "Layanan Perizinan" not in by_id
    # By person: as actor or as the user acted upon, named by username, email or NIP.
    mine = set(shown_events(auditor.get(f"/admin/audit?person={admin.user.username}").text))
    assert {"user.login", "client.created", "token.issued"} <= mine and "key.created" not in mine
    by_nip = set(shown_events(auditor.get("/admin/audit?person=198001012005011001").text))
    assert by_nip == mine
    # An unknown category, a bad cursor, control characters, dates out of range: a page.
    assert auditor.get("/admin/audit?cat=nonsense&before=x&after=-1").status_code == 200
    assert auditor.get("/admin/audit?before=999999999999999999-5").status_code == 200
    assert auditor.get("/admin/audit?after=1-1-1").status_code == 200
    odd = "person=%00a&client=%00&event=%00x&target=%00&from=0001-01-01&to=9999-12-31"
    assert auditor.get(f"/admin/audit?{odd}").status_code == 200
    assert auditor.get(f"/admin/audit.csv?{odd}").status_code == 200


def test_empty_filter_message_differs_from_no_events(
    auditor: Browser, db: Session, backend: str
) -> None:
    html = auditor.get("/admin/audit?cat=other").text  # no name without a label yet
    assert shown_events(html) == []
    assert "Tidak ada kejadian yang cocok dengan saringan ini." in html
    assert 'id="clear-filters"' in html and "Belum ada kejadian" not in html
    en = auditor.get("/admin/audit?cat=other&lang=en").text
    assert "No events match these filters." in en
    # With no filter and an empty log (a fresh install: the table as the page sees it).
    page = env.get_template("admin/_events.html").render(
        rows=[], narrowed=False, _=partial(translate, "id")
    )
    assert "Belum ada kejadian." in page and "saringan" not in page


def test_times_are_wib_and_dates_are_wib_days(auditor: Browser, db: Session, backend: str) -> None:
    # 07:03:05 UTC is 14:03:05 WIB; 17:30 UTC on the 9th is already the 10th in the city.
    put(db, ev.Event.KEY_CREATED, at=datetime(2025, 3, 10, 7, 3, 5, tzinfo=UTC), target_id="kid-a")
    put(db, ev.Event.KEY_ROTATED, at=datetime(2025, 3, 9, 17, 30, tzinfo=UTC), target_id="kid-b")
    put(db, ev.Event.KEY_CREATED, at=datetime(2025, 3, 9, 16, 59, tzinfo=UTC), target_id="kid-c")
    html = auditor.get("/admin/audit?cat=key").text
    assert "10-03-2025 14:03:05 WIB" in html and "10-03-2025 00:30:00 WIB" in html
    assert 'datetime="2025-03-10T14:03:05+07:00"' in html
    day = auditor.get("/admin/audit?cat=key&from=2025-03-10&to=2025-03-10").text
    assert sorted(shown_events(day)) == ["key.created", "key.rotated"]
    assert "09-03-2025 23:59:00 WIB" not in day
    event = events(db, ev.Event.KEY_CREATED, target_id="kid-a")[0]
    assert "10-03-2025 14:03:05 WIB" in auditor.get(f"/admin/audit/{event.id}").text
    rows = list(
        csv.reader(
            io.StringIO(auditor.get("/admin/audit.csv?cat=key&from=2025-03-09&to=2025-03-09").text)
        )
    )
    assert [r[1] for r in rows[1:]] == ["2025-03-09T23:59:00+07:00"]


def test_pages_both_ways(auditor: Browser, db: Session, backend: str) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    for i in range(120):
        put(db, "custom.paged", at=start + timedelta(seconds=i), target_id=f"n-{i}")
    first = auditor.get("/admin/audit?cat=other").text
    ids1 = shown_ids(first)
    assert len(ids1) == 50 and ids1 == sorted(ids1, reverse=True)
    assert link(first, "newer-page") is None and link(first, "newest-page") is None
    older = link(first, "older-page")
    assert older and "cat=other" in older
    second = auditor.get(older).text
    ids2 = shown_ids(second)
    assert len(ids2) == 50 and max(ids2) < min(ids1)
    third = auditor.get(link(second, "older-page") or "").text
    ids3 = shown_ids(third)
    assert len(ids3) == 20 and link(third, "older-page") is None
    # Back: the newer page is the second again, then the first.
    back = auditor.get(link(third, "newer-page") or "").text
    assert shown_ids(back) == ids2
    again = auditor.get(link(back, "newer-page") or "").text
    assert shown_ids(again) == ids1 and link(again, "newer-page") is None
    assert shown_ids(auditor.get(link(third, "newest-page") or "").text) == ids1


# ---------------------------------------------------------------------------- CSV


def test_csv_has_names_and_ids_the_filters_and_nothing_secret(
    admin: Browser, auditor: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    target, _ = person(runtime, db, "pegawaix", agency="BIDANG-TI", nip=NIP_X, mfa=False)
    app, _ = create_client(runtime, db, name='=HYPERLINK("x")')
    put(
        db,
        ev.Event.USER_UPDATED,
        actor_id=admin.user.id,
        target_type="user",
        target_id=target.id,
        client_id=app.client_id,
        fields=["display_name"],
        nik=NIK,
        client_secret=SECRET,
        note=NIK,
        counts={"token": SECRET, "rows": 3},
        refresh_token=True,
    )
    put(db, ev.Event.KEY_CREATED, target_type="signing_key", target_id="kid-1")
    r = auditor.get("/admin/audit.csv?cat=admin&cat=client")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "WIB.csv" in r.headers["content-disposition"]
    assert NIK not in r.text and SECRET not in r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {row["event"] for row in rows} <= set(
        event_labels.names_in(["admin", "client"])
    )
    updated = next(row for row in rows if row["event"] == "user.updated")
    assert updated["event_label"] == "Data orang diubah admin"
    assert updated["category"] == "admin"
    assert updated["actor_id"] == admin.user.id and updated["actor_username"] == "adminkota"
    assert updated["actor_name"] == "Adminkota"
    assert updated["target_id"] == target.id and updated["target_name"] == "Pegawaix (pegawaix)"
    assert updated["client_id"] == app.client_id
    assert updated["client_name"] == '\'=HYPERLINK("x")'  # never run as a formula
    assert '"refresh_token": true' in updated["details"] and '"rows": 3' in updated["details"]
    assert updated["created_at"].endswith("+07:00")
    # English labels for an English page; the export is itself recorded, with its filters.
    en = list(csv.DictReader(io.StringIO(auditor.get("/admin/audit.csv?cat=admin&lang=en").text)))
    assert any(row["event_label"] == "Person's details changed by an admin" for row in en)
    exported = events(db, ev.Event.AUDIT_EXPORTED, actor_id=auditor.user.id)
    assert exported and exported[0].details["filters"] == {"categories": ["admin", "client"]}
    # The detail page hides the same.
    event = events(db, ev.Event.USER_UPDATED)[-1]
    detail = auditor.get(f"/admin/audit/{event.id}").text
    assert NIK not in detail and SECRET not in detail and "display_name" in detail
