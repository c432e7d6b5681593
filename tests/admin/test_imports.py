"""Bulk import of staff from CSV at city scale.

A 20,000-row file with bad rows is streamed to disk, checked in a job whose progress lives in
the database, reported (paged, filtered, searched; the refused rows as CSV with reasons naming
the refused value), applied all at once, and a second run of the same file changes nothing.
Files that are too big, too long, not CSV or not UTF-8 get a page in the admin's language
(never JSON); other routes keep their small body limit. After applying, activation links go
out through a real SMTP server (aiosmtpd) in a background batch that mails each person once."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sso.accounts.mail import Mailer
from sso.core.clock import now
from sso.db.models import (
    AccountToken,
    ActivationBatch,
    ActivationSend,
    AuditEvent,
    ImportJob,
    PasswordCredential,
    User,
)
from sso.runtime import Runtime
from tests.accounts.mailbox import Mailbox
from tests.admin.conftest import Browser, events, person
from tests.oidc.flow import csrf_of

HEADER = "nip,name,email,agency_code,position\n"
NEW_PASSWORD = "Kata-Sandi-Baru-Yang-Panjang-7"


def nip(i: int) -> str:
    born = date(1970, 1, 1) + timedelta(days=i % 9000)
    return f"{born:%Y%m%d}2015011{i // 9000}{i % 100:02d}"


def big_file(rows: int) -> tuple[str, dict[str, int]]:
    """``rows`` staff, some of them bad in known ways; returns the text and expected counts."""
    lines = [HEADER]
    refused = 0
    for i in range(rows):
        number, agency, email = (
            nip(i),
            ("DISKOMINFO", "BIDANG-TI", "DINKES")[i % 3],
            f"p{i}@tangsel.go.id",
        )
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


def post_file(b: Browser, content: bytes, name: str = "pegawai.csv", **kw: Any) -> Any:
    page = b.get("/admin/imports").text
    return b.http.post(
        "/admin/imports",
        data={"csrf_token": csrf_of(page)},
        files={"file": (name, content, "text/csv")},
        follow_redirects=False,
        **kw,
    )


def upload(b: Browser, text: str, name: str = "pegawai.csv") -> str:
    r = post_file(b, text.encode(), name)
    assert r.status_code == 303, r.text[:500]
    return str(r.headers["location"])


def wait_for(
    b: Browser, path: str, *statuses: str, pattern: str = r'id="import-status" data-status="(\w+)"'
) -> str:
    """Poll the job page as the browser does (it sends Refresh while the job runs)."""
    for _ in range(6000):
        r = b.get(path)
        status = re.search(pattern, r.text)
        assert status, r.text[:500]
        if status.group(1) in statuses:
            return str(r.text)
        assert r.headers.get("refresh") == f"1; url={path}"
        time.sleep(0.2)  # a poll, as the page's Refresh does (not a timing assertion)
    raise AssertionError("the job did not finish")


def wait_for_batch(b: Browser, path: str) -> str:
    return wait_for(b, path, "sent", pattern=r'id="activation-status" data-status="(\w+)"')


def count(text: str, key: str) -> int:
    found = re.search(rf'data-count="{key}">(\d+)<', text)
    assert found, key
    return int(found.group(1))


def staff_count(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(User).where(User.kind == "staff")) or 0)


def row_lines(text: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-line="(\d+)"', text)]


# ---------------------------------------------------------------------------- the import


def test_twenty_thousand_rows_at_city_scale(admin: Browser, db: Session, backend: str) -> None:
    text, expected = big_file(20_000)
    assert len(text.encode()) > 1024 * 1024  # over the default body limit of every other route
    path = upload(admin, text)
    report = wait_for(admin, path, "validated")
    assert count(report, "create") == expected["create"] == 19_920
    assert count(report, "refuse") == expected["refuse"] == 80
    assert staff_count(db) == 1
    job = db.scalar(select(ImportJob))
    assert job is not None and job.processed == job.total == 20_000 and job.content == ""
    assert not list((admin.http.app.state.runtime.settings.var_dir / "imports").glob("*"))  # type: ignore[attr-defined]

    refused = admin.get(f"{path}?show=refuse").text
    assert "kode perangkat daerah &#39;TIDAKADA&#39; tidak dikenal" in refused
    assert "NIP &#39;12345&#39; harus 18 digit" in refused
    assert "email &#39;bukan-email&#39; tidak valid" in refused
    assert (
        "email &#39;p0@tangsel.go.id&#39; muncul lebih dari sekali di berkas (pertama di baris 2)"
        in refused
    )

    r = admin.post(f"{path}/apply", page=path)
    assert r.status_code == 303
    done = wait_for(admin, path, "applied", "failed")
    assert 'id="import-applied"' in done, done[:2000]
    # The cards say what happened, with the numbers of what was written.
    assert count(done, "create") == expected["create"] and "Dibuat" in done
    assert "Akan dibuat" not in done
    assert staff_count(db) == 1 + expected["create"]
    row = db.scalar(select(User).where(User.nip == nip(7)))
    assert row is not None and row.display_name == "Pegawai 7, S.Kom" and row.username == nip(7)
    assert row.agency is not None and row.agency.code == "BIDANG-TI"
    created = db.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.event == "user.created", AuditEvent.actor_id == admin.user.id)
    )
    assert created == expected["create"]
    assert (
        events(db, "import.applied", actor_id=admin.user.id)[0].details["created"]
        == expected["create"]
    )

    # The same file again: nothing to do.
    again = wait_for(admin, upload(admin, text), "validated")
    assert count(again, "create") == 0 and count(again, "change") == 0
    assert count(again, "unchanged") == expected["create"]
    assert 'id="import-nothing"' in again and 'id="apply-import"' not in again


def test_report_pages_filters_and_searches(admin: Browser, backend: str) -> None:
    text, _ = big_file(130)  # rows 1..4 of each thousand are bad: 4 refused
    path = upload(admin, text)
    first = wait_for(admin, path, "validated")
    assert row_lines(first) == list(range(2, 52))  # 50 a page, in file order
    assert 'data-matching="130"' in first and "Halaman 1 dari 3" in first
    assert 'id="rows-prev"' not in first and 'id="rows-next"' in first
    last = admin.get(f"{path}?page=3").text
    assert row_lines(last) == list(range(102, 132)) and 'id="rows-next"' not in last
    assert row_lines(admin.get(f"{path}?page=99").text) == row_lines(last)  # clamped
    refused = admin.get(f"{path}?show=refuse").text
    assert row_lines(refused) == [3, 4, 5, 6] and 'data-matching="4"' in refused
    created = admin.get(f"{path}?show=create&page=2").text
    assert len(row_lines(created)) == 50 and set(re.findall(r'data-action="(\w+)"', created)) == {
        "create"
    }
    assert row_lines(admin.get(f"{path}?q=pegawai 120,").text) == [122]  # name, any case
    assert row_lines(admin.get(f"{path}?q=P17@TANGSEL").text) == [19]  # email
    assert row_lines(admin.get(f"{path}?q={nip(9)}").text) == [11]  # NIP
    assert row_lines(admin.get(f"{path}?q=100%25").text) == []  # % is a character, not a wildcard
    assert row_lines(admin.get(f"{path}?show=nonsense").text) == list(range(2, 52))


def test_refused_rows_download_names_the_values(admin: Browser, backend: str) -> None:
    text = HEADER + (
        f"{nip(1)},Andi,andi@tangsel.go.id,DISKOMINFO,Staf\n"
        "1234,Budi,budi@tangsel.go.id,DINKES,Staf\n"
        f'{nip(2)},=HYPERLINK("http://x"),cici@tangsel.go.id,ANTAH,Staf\n'
        f"{nip(3)},Dedi,dedi@,DINKES,Staf\n"
    )
    path = upload(admin, text)
    wait_for(admin, path, "validated")
    r = admin.get(f"{path}/refused.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:6] == ["line", "nip", "name", "email", "agency_code", "position"]
    by_line = {row[0]: row for row in rows[1:]}
    assert sorted(by_line) == ["3", "4", "5"]
    assert by_line["3"][6] == "NIP '1234' harus 18 digit"
    assert by_line["4"][2].startswith("'=HYPERLINK")  # never a formula in a spreadsheet
    assert by_line["4"][6] == "kode perangkat daerah 'ANTAH' tidak dikenal"
    assert by_line["5"][6] == "email 'dedi@' tidak valid"
    english = admin.get(f"{path}/refused.csv", headers={"accept-language": "en"})
    assert "NIP '1234' must be 18 digits" in english.text


def test_changes_are_listed_and_applied(admin: Browser, db: Session, backend: str) -> None:
    first = HEADER + f"{nip(1)},Andi,andi@tangsel.go.id,DISKOMINFO,Staf\n"
    path = upload(admin, first)
    wait_for(admin, path, "validated")
    admin.post(f"{path}/apply", page=path)
    wait_for(admin, path, "applied")
    moved = HEADER + f"{nip(1)},Andi,andi@tangsel.go.id,DINKES,Kepala Seksi\n"
    path = upload(admin, moved)
    report = wait_for(admin, path, "validated")
    assert count(report, "change") == 1 and "agency_id, position" in report
    admin.post(f"{path}/apply", page=path)
    done = wait_for(admin, path, "applied")
    assert count(done, "change") == 1 and "Diubah" in done
    andi = db.scalar(select(User).where(User.nip == nip(1)))
    assert andi is not None and andi.position == "Kepala Seksi" and andi.version == 2


def test_all_or_nothing_when_data_changed_meanwhile(
    admin: Browser, db: Session, backend: str
) -> None:
    text = HEADER + "".join(
        f"{nip(i)},Orang {i},o{i}@tangsel.go.id,DINKES,Staf\n" for i in range(50)
    )
    path = upload(admin, text)
    wait_for(admin, path, "validated")
    # Someone creates a person with one of the file's emails before the admin applies.
    db.add(
        User(
            kind="citizen",
            username="penyela",
            username_normalized="penyela",
            email="o49@tangsel.go.id",
            email_normalized="o49@tangsel.go.id",
            display_name="Penyela",
            display_name_search="penyela",
        )
    )
    db.commit()
    admin.post(f"{path}/apply", page=path)
    failed = wait_for(admin, path, "failed", "applied")
    assert "tidak ada yang disimpan" in failed
    assert staff_count(db) == 1
    assert events(db, "import.failed", actor_id=admin.user.id)


def test_opd_admin_imports_only_into_own_agencies(
    opd_admin: Browser, admin: Browser, backend: str
) -> None:
    text = (
        HEADER + f"{nip(1)},Satu,s1@tangsel.go.id,BIDANG-TI,Staf\n"
        f"{nip(2)},Dua,s2@tangsel.go.id,DINKES,Staf\n"
    )
    path = upload(opd_admin, text)
    report = wait_for(opd_admin, path, "validated")
    assert count(report, "create") == 1 and count(report, "refuse") == 1
    assert "perangkat daerah &#39;DINKES&#39; di luar wewenang Anda" in report
    other: Any = admin.get(path)  # an admin sees every job
    assert other.status_code == 200


# ---------------------------------------------------------------------------- refusals


def multipart(content: bytes, token: str) -> tuple[bytes, str]:
    boundary = "----tangselboundary7"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="besar.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return (
        head + content + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def test_a_file_over_ten_megabytes_gets_a_page(admin: Browser, db: Session, backend: str) -> None:
    line = f"{nip(1)},Pegawai Dengan Nama Yang Cukup Panjang,p@tangsel.go.id,DINKES,Staf\n"
    content = (HEADER + line * (11 * 1024 * 1024 // len(line) + 1)).encode()
    assert len(content) > 11 * 1024 * 1024
    r = post_file(admin, content)
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert "Berkas terlalu besar: paling besar 10 MB" in r.text and 'id="file"' in r.text
    english = post_file(admin, content, headers={"accept-language": "en"})
    assert english.status_code == 413 and "The file is too large: at most 10 MB" in english.text

    # Sent without a length (chunked): counted as it streams in, the same page.
    page = admin.get("/admin/imports").text
    body, content_type = multipart(content, csrf_of(page))

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 256 * 1024):
            yield body[i : i + 256 * 1024]

    r = admin.http.post("/admin/imports", content=chunks(), headers={"content-type": content_type})
    assert r.status_code == 413 and "Berkas terlalu besar" in r.text
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_other_routes_keep_the_small_limit(admin: Browser, http: Any, backend: str) -> None:
    page = admin.get("/admin/users/new").text
    big = "x" * (2 * 1024 * 1024)
    r = admin.http.post(
        "/admin/users/new",
        data={"csrf_token": csrf_of(page), "display_name": big},
        follow_redirects=False,
    )
    assert r.status_code == 413
    r = http.post(
        "/token",
        content=b"grant_type=x&pad=" + b"a" * (2 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413 and r.json()["error"] == "invalid_request"


def test_unreadable_files_are_refused_at_once(admin: Browser, db: Session, backend: str) -> None:
    r = post_file(admin, b"nama,email\nA,a@b.id\n")
    assert r.status_code == 400 and "Kolom wajib tidak ada" in r.text
    r = post_file(admin, "nip;nama\n\xff".encode("latin-1"))
    assert r.status_code == 400 and "UTF-8" in r.text
    r = post_file(admin, (HEADER + "1,Siti,s@x.id,A,B\n").encode("utf-16"))
    assert r.status_code == 400 and "UTF-8" in r.text
    r = post_file(admin, b"PK\x03\x04" + b"\x00" * 200, name="pegawai.xlsx")
    assert r.status_code == 400 and "bukan CSV" in r.text
    r = post_file(admin, b"")
    assert r.status_code == 400 and "Berkas kosong" in r.text
    too_many = HEADER + f"{nip(1)},A,,DINKES,S\n" * 50_001
    r = post_file(admin, too_many.encode())
    assert r.status_code == 400 and "Terlalu banyak baris (paling banyak 50000)" in r.text
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0


# ---------------------------------------------------------------------------- activation links


def applied_import(admin: Browser, text: str) -> str:
    path = upload(admin, text)
    wait_for(admin, path, "validated")
    admin.post(f"{path}/apply", page=path)
    wait_for(admin, path, "applied")
    return path


def set_password(http: Any, link: str, password: str = NEW_PASSWORD) -> Any:
    form = http.get(link)
    assert form.status_code == 200, form.text[:300]
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token
    return http.post(
        "/account/activate",
        data={
            "csrf_token": csrf_of(form.text),
            "token": token.group(1),
            "password": password,
            "password_confirm": password,
        },
        follow_redirects=False,
    )


def test_activation_links_after_an_import(
    admin: Browser, app: FastAPI, runtime: Runtime, db: Session, mailbox: Mailbox, backend: str
) -> None:
    # One of the file's people exists already and has a password: no link for them.
    known, _ = person(runtime, db, nip(0), nip=nip(0), agency="DINKES", mfa=False)
    db.execute(
        update(User)
        .where(User.id == known.id)
        .values(email="o0@tangsel.go.id", email_normalized="o0@tangsel.go.id")
    )
    text = HEADER + "".join(
        f"{nip(i)},Orang {i},o{i}@tangsel.go.id,DINKES,Staf\n" for i in range(30)
    )
    text += "12345,Salah,salah@tangsel.go.id,DINKES,Staf\n"
    text += f"{nip(40)},Tanpa Email,,DINKES,Staf\n"
    path = applied_import(admin, text)
    page = admin.get(path).text
    assert "29 pegawai dari impor ini belum memiliki kata sandi" in page
    mailbox.clear()

    r = admin.post(f"{path}/activation", page=path)
    assert r.status_code == 303
    done = wait_for_batch(admin, path)
    assert 'data-sent="29"' in done and 'data-total="29"' in done and 'data-percent="100"' in done
    mails = mailbox.wait(29)
    assert sorted(m.to for m in mails) == sorted(f"o{i}@tangsel.go.id" for i in range(1, 30))
    assert all(m.subject == "Aktifkan akun Tangsel SSO Anda" for m in mails)
    assert all("berlaku 7 hari" in m.text for m in mails)
    [started] = events(db, "activation.batch_started", actor_id=admin.user.id)
    [sent] = events(db, "activation.batch_sent", actor_id=admin.user.id)
    assert sent.details["sent"] == 29 and sent.details["failed"] == 0
    # A second click: the same batch, nobody mailed again.
    admin.post(f"{path}/activation", page="/admin/imports")
    wait_for_batch(admin, path)
    assert len(mailbox.messages()) == 29
    assert db.scalar(select(func.count()).select_from(ActivationBatch)) == 1

    # The link sets a password once; the second time it is refused.
    link = mailbox.to("o5@tangsel.go.id")[0].link("/account/activate")
    assert "tsso_al_" in link
    from fastapi.testclient import TestClient

    with TestClient(
        app, base_url="http://testserver", headers={"accept": "text/html"}
    ) as person_http:
        r = set_password(person_http, link)
        assert r.status_code == 200 and "Akun diaktifkan" in r.text
        o5 = db.scalar(select(User).where(User.email_normalized == "o5@tangsel.go.id"))
        assert o5 is not None and db.get(PasswordCredential, o5.id) is not None
        assert events(db, "user.activated", target_id=o5.id)
        again = person_http.get(link)
        assert again.status_code == 400 and "Tautan aktivasi ini tidak berlaku" in again.text
        # An expired link is refused too.
        expired = mailbox.to("o6@tangsel.go.id")[0].link("/account/activate")
        o6 = db.scalar(select(User).where(User.email_normalized == "o6@tangsel.go.id"))
        assert o6 is not None
        db.execute(
            update(AccountToken)
            .where(AccountToken.user_id == o6.id)
            .values(expires_at=now() - timedelta(seconds=1))
        )
        assert person_http.get(expired).status_code == 400
        reset = person_http.get(link.replace("/account/activate", "/password/reset"))
        assert reset.status_code == 400  # an activation token is no reset token
        # The person logs in with the new password (their username is the NIP).
        assert o5.username == nip(5)


class DiesAfter(Mailer):
    """The real mailer (real SMTP) in a worker that dies after ``chunks`` chunks."""

    def __init__(self, settings: Any, chunks: int) -> None:
        super().__init__(settings)
        self.left = chunks

    def send_many(self, mails: Any) -> list[bool]:
        result = super().send_many(mails)
        self.left -= 1
        if self.left <= 0:
            raise SystemExit("worker died")  # after the mails left, before they are recorded
        return result


def test_a_dead_batch_is_resumed_without_mailing_anyone_twice(
    admin: Browser, runtime: Runtime, db: Session, mailbox: Mailbox, backend: str
) -> None:
    from sso.admin.services import activation

    text = HEADER + "".join(
        f"{nip(i)},Orang {i},o{i}@tangsel.go.id,DINKES,Staf\n" for i in range(450)
    )
    path = applied_import(admin, text)
    job = db.scalar(select(ImportJob).where(ImportJob.status == "applied"))
    assert job is not None
    mailbox.clear()
    with runtime.sessions() as s:
        batch = activation.start_for_import(
            s,
            s.get_one(ImportJob, job.id),
            actor_id=admin.user.id,
            locale="id",
        )
        s.commit()
        batch_id = batch.id
    with contextlib.suppress(SystemExit):
        activation.run_batch(
            runtime.sessions, runtime.settings, DiesAfter(runtime.settings, 2), batch_id
        )
    assert len(mailbox.wait(2 * activation.CHUNK)) == 2 * activation.CHUNK
    page = admin.get(path).text
    assert 'data-status="sending"' in page and 'id="continue-activation"' not in page  # leased
    db.execute(update(ActivationBatch).values(lease_until=now() - timedelta(seconds=1)))
    page = admin.get(path).text
    assert 'id="continue-activation"' in page
    admin.post(f"{path}/activation", page=path)
    done = wait_for_batch(admin, path)
    received = [m.to for m in mailbox.messages()]
    assert len(received) == len(set(received))  # nobody twice
    # The chunk in flight when the worker died is counted failed, never sent again.
    assert 'data-sent="250"' in done and 'data-failed="200"' in done, done
    assert len(received) == 2 * activation.CHUNK + 50
    statuses = dict(
        db.execute(
            select(ActivationSend.status, func.count()).group_by(ActivationSend.status)
        ).all()
    )
    assert statuses == {"sent": 250, "failed": 200}
    assert events(db, "activation.batch_resumed", actor_id=admin.user.id)


def test_creating_one_staff_member_sends_one_activation_link(
    admin: Browser, app: FastAPI, db: Session, org: Any, mailbox: Mailbox, backend: str
) -> None:
    form = admin.get("/admin/users/new").text
    assert 'name="send_activation"' in form and "Kirim tautan aktivasi" in form
    r = admin.post(
        "/admin/users/new",
        {
            "display_name": "Dewi Lestari",
            "nip": nip(3),
            "email": "dewi@tangerangselatankota.go.id",
            "agency_id": str(org["DINKES"].id),
            "position": "Analis",
            "send_activation": "1",
        },
    )
    assert r.status_code == 303, r.text[:300]
    [mail] = mailbox.wait(1)
    assert mail.to == "dewi@tangerangselatankota.go.id"
    dewi = db.scalar(select(User).where(User.nip == nip(3)))
    assert dewi is not None
    assert events(db, "user.activation_link_sent", actor_id=admin.user.id, target_id=dewi.id)
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver", headers={"accept": "text/html"}) as h:
        assert set_password(h, mail.link("/account/activate")).status_code == 200
        assert h.get(mail.link("/account/activate")).status_code == 400
    # Without the box ticked, no mail.
    r = admin.post(
        "/admin/users/new",
        {
            "display_name": "Eko",
            "nip": nip(4),
            "email": "eko@tangerangselatankota.go.id",
            "agency_id": str(org["DINKES"].id),
        },
    )
    assert r.status_code == 303  # (mail goes out in a background task, done by now)
    assert len(mailbox.messages()) == 1
