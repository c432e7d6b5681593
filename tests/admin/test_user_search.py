"""The people search of ``/admin/users``: any part of the name, username, email or NIP, case-
and accent-insensitive; pages both ways with a total (exact, or estimated past a cap), page
sizes and three sort orders; an opd-admin sees only their agencies' staff."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import User
from sso.runtime import Runtime
from sso.storage import people_search
from tests.admin.conftest import Browser, person

NIPS = [f"19{70 + i:02d}0101200{i % 10}01100{i % 10}" for i in range(8)]
T0 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


def names_on(page: str) -> list[str]:
    return re.findall(r'<a href="/admin/users/[0-9a-f-]{36}">([^<]+)</a>', page)


def citizen(db: Session, name: str, i: int, *, login_at: datetime | None = None) -> User:
    """A citizen row written through the ORM (no password: quick to make by the dozen)."""
    username = f"warga{i:03d}"
    user = User(
        kind="citizen",
        username=username,
        username_normalized=username,
        email=f"{username}@warga.example.id",
        email_normalized=f"{username}@warga.example.id",
        display_name=name,
        display_name_search=name.casefold(),
        created_at=T0 + timedelta(days=i),
        last_login_at=login_at,
    )
    db.add(user)
    db.flush()
    return user


def href(page: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_any_part_case_and_accent_insensitive(
    admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    person(runtime, db, "budi", nip=NIPS[0], mfa=False)  # display name "Budi"
    citizen(db, "Sri Jokowati", 1)
    citizen(db, "Inés Wulandari", 2)
    citizen(db, "Ahmad Santoso", 3)
    staff = db.scalar(select(User).where(User.username == "budi"))
    assert staff is not None
    staff.email = "budi.hartono@dinkes.tangerangselatankota.go.id"
    staff.display_name = "Budi Hartono"
    db.commit()

    def found(q: str) -> list[str]:
        r = admin.get("/admin/users", params={"q": q})
        assert r.status_code == 200, r.text[:300]
        return names_on(r.text)

    assert found("joko") == ["Sri Jokowati"]  # inside a surname
    assert found("JOKOWATI") == ["Sri Jokowati"]
    assert found("ines") == ["Inés Wulandari"]  # accent-insensitive both ways
    assert found("INÉS") == ["Inés Wulandari"]
    assert found("santoso") == ["Ahmad Santoso"]
    assert found("sri jokow") == ["Sri Jokowati"]  # every word somewhere
    assert found("jokowati ines") == []
    assert found("hartono@dinkes") == ["Budi Hartono"]  # part of an email
    assert found(NIPS[0][4:14]) == ["Budi Hartono"]  # the middle of a NIP
    assert found("warga002") == ["Inés Wulandari"]  # part of a username
    assert found("sr") == ["Sri Jokowati"]  # too short for trigrams: a name prefix
    assert found("%") == [] and found("_a_") == []  # LIKE wildcards are literal
    # A NUL is no 500 (PostgreSQL refuses it in a query): control characters split words.
    assert found("sri\x00jokow") == ["Sri Jokowati"]
    assert found("\x00jokowati\t") == ["Sri Jokowati"]
    # An admin's edit keeps the search column up to date.
    db.expire_all()
    staff = db.get(User, staff.id)
    assert staff is not None and "budi hartono" in staff.search_text


def test_pages_both_ways_with_exact_total_and_sizes(
    admin: Browser, db: Session, backend: str
) -> None:
    for i in range(1, 31):
        citizen(db, f"Warga Uji {i:02d}", i)
    db.commit()
    first = admin.get("/admin/users", params={"q": "warga uji", "size": "25"}).text
    assert names_on(first) == [f"Warga Uji {i:02d}" for i in range(1, 26)]
    assert "1–25 dari" in first and "30 orang" in first and "perkiraan" not in first
    assert href(first, "prev") is None
    nxt = href(first, "next")
    assert nxt is not None and "page=2" in nxt and "size=25" in nxt
    second = admin.get(nxt).text
    assert names_on(second) == [f"Warga Uji {i:02d}" for i in range(26, 31)]
    assert "26–30 dari" in second and href(second, "next") is None
    back = href(second, "prev")
    assert back is not None
    assert names_on(admin.get(back).text) == names_on(first)
    # A size not on the list falls back to 50; a page past the end is empty, not an error.
    assert len(names_on(admin.get("/admin/users?q=warga+uji&size=7").text)) == 30
    assert admin.get("/admin/users?q=warga+uji&page=99").status_code == 200
    assert admin.get("/admin/users?q=warga+uji&page=-1&size=x&sort=evil").status_code == 200


def test_total_is_estimated_past_the_cap(
    admin: Browser, db: Session, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(1, 31):
        citizen(db, f"Warga Taksir {i:02d}", i)
    db.commit()
    query = people_search.UserQuery(text="taksir")
    assert people_search.total_users(db, query) == people_search.Total(30, estimated=False)
    low = people_search.total_users(db, query, exact_up_to=3)
    assert low.estimated and low.count >= 4
    everyone = people_search.total_users(db, people_search.UserQuery(), exact_up_to=3)  # no filter
    assert everyone.estimated and everyone.count >= 4
    scoped = people_search.UserQuery(text="taksir", kind="staff", agency_ids={1, 2, 3})  # IN list
    assert people_search.total_users(db, scoped, exact_up_to=3) == people_search.Total(
        0, estimated=False
    )
    if backend == "postgres":  # the planner's estimate, with the IN list written out
        assert isinstance(people_search.estimate_users(db, scoped), int)
    else:
        assert people_search.estimate_users(db, scoped) is None
    # The last page knows its total without counting (also past the cap).
    last = people_search.UserQuery(text="taksir", offset=25, limit=25)
    assert people_search.total_users(
        db, last, exact_up_to=3, page=(5, False)
    ) == people_search.Total(30, estimated=False)
    import sso.admin.users as users_page

    monkeypatch.setattr(users_page, "EXACT_UP_TO", 3)  # the cap, lowered for the test
    page = admin.get("/admin/users?q=taksir&size=25").text
    assert "sekitar" in page and "(perkiraan)" in page
    assert len(names_on(page)) == 25
    assert "30 orang" in admin.get("/admin/users?q=taksir&size=25&page=2").text


def test_sorting_by_name_created_and_last_login(admin: Browser, db: Session, backend: str) -> None:
    citizen(db, "Citra Urut", 1, login_at=T0 + timedelta(days=10))
    citizen(db, "Ayu Urut", 2)  # never logged in
    citizen(db, "Bayu Urut", 3, login_at=T0 + timedelta(days=20))
    db.commit()

    def order(sort: str) -> list[str]:
        return [n.split()[0] for n in names_on(admin.get(f"/admin/users?q=urut&sort={sort}").text)]

    assert order("name") == ["Ayu", "Bayu", "Citra"]
    assert order("-name") == ["Citra", "Bayu", "Ayu"]
    assert order("created") == ["Citra", "Ayu", "Bayu"]
    assert order("-created") == ["Bayu", "Ayu", "Citra"]
    assert order("-last_login") == ["Bayu", "Citra", "Ayu"]  # never: last
    assert order("last_login") == ["Ayu", "Citra", "Bayu"]  # never: the oldest
    page = admin.get("/admin/users?q=urut&sort=-created").text
    assert 'aria-sort="descending"' in page and "WIB" in page and "Belum pernah" in page
    # The column headers link to the other direction, keeping the search.
    assert 'href="/admin/users?q=urut&amp;sort=created"' in page


def test_opd_admin_sees_only_their_agencies(
    opd_admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    person(runtime, db, "tika", agency="BIDANG-TI", nip=NIPS[1], mfa=False)
    person(runtime, db, "tiara", agency="DINKES", nip=NIPS[2], mfa=False)
    citizen(db, "Tini Warga", 1)
    db.commit()
    page = opd_admin.get("/admin/users?q=ti&kind=citizen").text
    assert names_on(page) == ["Tika"]
    page = opd_admin.get("/admin/users?q=tiara").text
    assert names_on(page) == [] and "0 orang" in page
    assert opd_admin.get("/admin/users?q=tika").text.count("/admin/users/") >= 1
    everything = opd_admin.get("/admin/users").text
    assert "Tiara" not in everything and "Tini" not in everything and "Tika" in everything


def test_english_page_and_phone_labels(admin: Browser, db: Session, backend: str) -> None:
    citizen(db, "Sri Jokowati", 1)
    db.commit()
    page = admin.get("/admin/users?q=joko&lang=en").text
    assert "1–1 of" in page and "1 in total" in page and "Search name, username" in page
    for field in ("q", "kind", "agency", "status", "sort", "size"):
        assert f'<label for="{field}">' in page


@pytest.mark.parametrize("sort", ["-last_login", "last_login"])
def test_last_login_order_pages_across_the_never_signed_in(
    admin: Browser, db: Session, backend: str, sort: str
) -> None:
    made = [
        citizen(db, f"Warga Masuk {i:02d}", i, login_at=T0 + timedelta(hours=i) if i % 3 else None)
        for i in range(1, 41)
    ]
    db.commit()
    signed_in = sorted((u for u in made if u.last_login_at), key=lambda u: u.last_login_at)  # type: ignore[arg-type, return-value]
    never = sorted((u for u in made if not u.last_login_at), key=lambda u: u.id)
    if sort.startswith("-"):
        expected = [u.display_name for u in signed_in[::-1] + never[::-1]]
    else:
        expected = [u.display_name for u in never + signed_in]
    seen: list[str] = []
    url: str | None = f"/admin/users?q=masuk&sort={sort}&size=25"
    while url:
        page = admin.get(url).text
        seen += names_on(page)
        url = href(page, "next")
    assert seen == expected
    page2 = admin.get(f"/admin/users?q=masuk&sort={sort}&size=25&page=2").text
    assert names_on(page2) == expected[25:] and "26–40 dari" in page2


def test_search_column_follows_every_write_path(
    runtime: Runtime, db: Session, backend: str
) -> None:
    """ORM inserts and updates, the staff import's Core insert and Core update, and a login
    (``last_login_at``) all leave ``search_text`` right."""
    from sso.core.clock import now
    from sso.storage import imports as import_repo
    from sso.storage import users as user_repo

    orm = citizen(db, "Élodie Saputra", 1)
    assert orm.search_text == "elodie saputra warga001 warga001@warga.example.id"
    orm.email = "Elodie@Contoh.ID"
    db.flush()
    assert orm.search_text == "elodie saputra warga001 elodie@contoh.id"
    t = now()
    import_repo.insert_users(
        db,
        [
            {
                "id": "00000000-0000-4000-8000-000000000001",
                "kind": "staff",
                "username": NIPS[5],
                "username_normalized": NIPS[5],
                "email": None,
                "email_normalized": None,
                "email_verified": False,
                "phone": None,
                "phone_verified": False,
                "display_name": "Bambang Pamungkas",
                "display_name_search": "bambang pamungkas",
                "given_name": None,
                "family_name": None,
                "locale": "id",
                "status": "active",
                "nip": NIPS[5],
                "agency_id": None,
                "position": None,
                "nik_encrypted": None,
                "nik_hash": None,
                "created_at": t,
                "updated_at": t,
                "version": 1,
            }
        ],
    )
    imported = db.get(User, "00000000-0000-4000-8000-000000000001")
    assert imported is not None
    assert imported.search_text == f"bambang pamungkas {NIPS[5]} {NIPS[5]}"
    assert import_repo.update_user(
        db, imported.id, 1, {"display_name": "Bambang Pamungkas Jr", "email": "bp@dispora.go.id"}
    )
    db.expire_all()
    imported = db.get(User, imported.id)
    assert imported is not None and imported.search_text.startswith("bambang pamungkas jr ")
    assert imported.search_text.endswith("bp@dispora.go.id " + NIPS[5])
    user_repo.record_login(db, imported.id, t)
    db.expire_all()
    again = db.get(User, imported.id)
    assert again is not None and again.last_login_at == t and again.version == 2
    db.rollback()
