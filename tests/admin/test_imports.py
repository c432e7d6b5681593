"""Bulk import of staff from CSV: a 10,000-row file with bad rows is validated in a job whose
progress lives in the database, reported (create / change / unchanged / refuse with reasons),
applied all at once, and a second run of the same file changes nothing."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent, ImportJob, User
from tests.admin.conftest import Browser, events

HEADER = "nip,name,email,agency_code,position\n"


def nip(i: int) -> str:
    born = date(1970, 1, 1) + timedelta(days=i)
    return f"{born:%Y%m%d}2015011{i % 1000:03d}"


def big_file(rows: int) -> tuple[str, dict[str, int]]:
    """``rows`` staff, some of them bad in known ways; returns the text and expected counts."""
    lines = [HEADER]
    refused = 0
    for i in range(rows):
        number, agency, email = nip(i), ("DISKOMINFO", "BIDANG-TI", "DINKES")[i % 3], f"p{i}@tangsel.go.id"
        if i % 1000 == 1:
            number, refused = "12345", refused + 1  # not a NIP
        elif i % 1000 == 2:
            agency, refused = "TIDAKADA", refused + 1  # unknown agency
        elif i % 1000 == 3:
            email, refused = "bukan-email", refused + 1
        elif i % 1000 == 4:
            email, refused = "p0@tangsel.go.id", refused + 1  # the same email as row 0
        lines.append(f'{number},"Pegawai {i}, S.Kom",{email},{agency},Staf\n')
    return "".join(lines), {"refuse": refused, "create": rows - refused}


def upload(b: Browser, text: str, name: str = "pegawai.csv") -> str:
    page = b.get("/admin/imports").text
    from tests.oidc.flow import csrf_of

    r = b.http.post("/admin/imports", data={"csrf_token": csrf_of(page)},
                    files={"file": (name, text.encode(), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return str(r.headers["location"])


def wait_for(b: Browser, path: str, *statuses: str) -> str:
    """Poll the job page as the browser does (it sends Refresh while the job runs)."""
    for _ in range(3000):
        r = b.get(path)
        status = re.search(r'data-status="(\w+)"', r.text)
        assert status, r.text[:500]
        if status.group(1) in statuses:
            return str(r.text)
        assert r.headers.get("refresh") == "1"
        time.sleep(0.1)
    raise AssertionError("the import job did not finish")


def count(text: str, key: str) -> int:
    found = re.search(rf'data-count="{key}">(\d+)<', text)
    assert found, key
    return int(found.group(1))


def test_ten_thousand_rows_with_bad_ones(admin: Browser, db: Session, backend: str) -> None:
    text, expected = big_file(10_000)
    path = upload(admin, text)
    report = wait_for(admin, path, "validated")
    assert count(report, "create") == expected["create"]
    assert count(report, "refuse") == expected["refuse"] == 40
    assert "kode perangkat daerah tidak dikenal" in report
    assert "email muncul lebih dari sekali di berkas" in report
    assert db.scalar(select(func.count()).select_from(User).where(User.kind == "staff")) == 1
    job = db.scalar(select(ImportJob))
    assert job is not None and job.processed == job.total == 10_000

    r = admin.post(f"{path}/apply", page=path)
    assert r.status_code == 303
    done = wait_for(admin, path, "applied", "failed")
    assert 'id="import-applied"' in done, done[:2000]
    staff = db.scalar(select(func.count()).select_from(User).where(User.kind == "staff"))
    assert staff == 1 + expected["create"]
    row = db.scalar(select(User).where(User.nip == nip(7)))
    assert row is not None and row.display_name == "Pegawai 7, S.Kom" and row.username == nip(7)
    assert row.agency is not None and row.agency.code == "BIDANG-TI"
    created = db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.event == "user.created", AuditEvent.actor_id == admin.user.id))
    assert created == expected["create"]
    assert events(db, "import.applied", actor_id=admin.user.id)[0].details["created"] == expected["create"]

    # The same file again: nothing to do.
    again = wait_for(admin, upload(admin, text), "validated")
    assert count(again, "create") == 0 and count(again, "change") == 0
    assert count(again, "unchanged") == expected["create"]
    assert 'id="import-nothing"' in again and 'id="apply-import"' not in again


def test_changes_are_listed_and_applied(admin: Browser, db: Session, backend: str) -> None:
    first = HEADER + f"{nip(1)},Andi,andi@tangsel.go.id,DISKOMINFO,Staf\n"
    wait_for(admin, upload(admin, first), "validated")
    path = upload(admin, first)  # validated twice: applying the first is enough
    first_path = path
    wait_for(admin, first_path, "validated")
    admin.post(f"{first_path}/apply", page=first_path)
    wait_for(admin, first_path, "applied")
    moved = HEADER + f"{nip(1)},Andi,andi@tangsel.go.id,DINKES,Kepala Seksi\n"
    path = upload(admin, moved)
    report = wait_for(admin, path, "validated")
    assert count(report, "change") == 1 and "agency_id, position" in report
    admin.post(f"{path}/apply", page=path)
    wait_for(admin, path, "applied")
    andi = db.scalar(select(User).where(User.nip == nip(1)))
    assert andi is not None and andi.position == "Kepala Seksi" and andi.version == 2


def test_all_or_nothing_when_data_changed_meanwhile(admin: Browser, db: Session,
                                                    backend: str) -> None:
    text = HEADER + "".join(f"{nip(i)},Orang {i},o{i}@tangsel.go.id,DINKES,Staf\n" for i in range(50))
    path = upload(admin, text)
    wait_for(admin, path, "validated")
    # Someone creates a person with one of the file's emails before the admin applies.
    from sso.db.models import User as U

    db.add(U(kind="citizen", username="penyela", username_normalized="penyela",
             email="o49@tangsel.go.id", email_normalized="o49@tangsel.go.id",
             display_name="Penyela", display_name_search="penyela"))
    db.commit()
    admin.post(f"{path}/apply", page=path)
    failed = wait_for(admin, path, "failed", "applied")
    assert "tidak ada yang disimpan" in failed
    assert db.scalar(select(func.count()).select_from(User).where(User.kind == "staff")) == 1
    assert events(db, "import.failed", actor_id=admin.user.id)


def test_unreadable_files_are_refused_at_once(admin: Browser, backend: str) -> None:
    from tests.oidc.flow import csrf_of

    page = admin.get("/admin/imports").text
    r = admin.http.post("/admin/imports", data={"csrf_token": csrf_of(page)},
                        files={"file": ("x.csv", b"nama,email\nA,a@b.id\n", "text/csv")})
    assert r.status_code == 400 and "Kolom wajib tidak ada" in r.text
    r = admin.http.post("/admin/imports", data={"csrf_token": csrf_of(page)},
                        files={"file": ("x.csv", "nip;nama\n\xff".encode("latin-1"), "text/csv")})
    assert r.status_code == 400 and "UTF-8" in r.text


def test_opd_admin_imports_only_into_own_agencies(opd_admin: Browser, admin: Browser, db: Session,
                                                  backend: str) -> None:
    text = (HEADER + f"{nip(1)},Satu,s1@tangsel.go.id,BIDANG-TI,Staf\n"
            f"{nip(2)},Dua,s2@tangsel.go.id,DINKES,Staf\n")
    path = upload(opd_admin, text)
    report = wait_for(opd_admin, path, "validated")
    assert count(report, "create") == 1 and count(report, "refuse") == 1
    assert "perangkat daerah di luar wewenang Anda" in report
    other: Any = admin.get(path)  # an admin sees every job
    assert other.status_code == 200
