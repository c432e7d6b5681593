"""Admin UI test helpers: people with admin roles (and a real TOTP second factor, since admin
pages need a login with MFA), each in a browser (cookie jar) of their own."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.config import Settings
from sso.db.models import Agency, AuditEvent, User
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.accounts import mailbox as smtp
from tests.conftest import make_settings
from tests.factories import PASSWORD, create_agency, create_user, enrol_totp
from tests.oidc.flow import answer_mfa, csrf_of, open_console_page

NIP_ADMIN = "198001012005011001"
NIP_OPD = "198202022006022002"
NIP_HELP = "198303032007031003"
NIP_AUDIT = "198404042008042004"


@dataclass
class Browser:
    """One person's browser on the provider, logged in to the admin UI."""

    http: TestClient
    user: User
    totp: str | None

    def get(self, path: str, **kw: Any) -> httpx2.Response:
        return self.http.get(path, follow_redirects=False, **kw)

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, page: str | None = None, **kw: Any
    ) -> httpx2.Response:
        """POST ``data`` with the CSRF token of ``page`` (default: the form's own path)."""
        source = self.http.get(page or path, follow_redirects=False)
        assert source.status_code == 200, (source.status_code, source.text[:300])
        return self.http.post(
            path,
            data={**(data or {}), "csrf_token": csrf_of(source.text)},
            follow_redirects=False,
            **kw,
        )


def confirm_fields(text: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of a confirmation page's form (admin/confirm.html)."""
    found = re.search(
        r'<form method="post" action="([^"]+)"[^>]*id="confirm-form">(.*?)</form>', text, re.S
    )
    assert found, text[:3000]
    fields = {
        html.unescape(n): html.unescape(v)
        for n, v in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', found.group(2)
        )
    }
    return html.unescape(found.group(1)), fields


def confirm(
    b: Browser, path: str, query: dict[str, str] | None = None, extra: dict[str, str] | None = None
) -> Any:
    """GET ``path``/confirm (the confirmation page), then POST its form (+ ``extra``)."""
    page = b.http.get(path + "/confirm", params=query, follow_redirects=False)
    assert page.status_code == 200, (page.status_code, page.text[:500])
    action, fields = confirm_fields(page.text)
    assert action == path
    return b.http.post(action, data={**fields, **(extra or {})}, follow_redirects=False)


def login_again(b: Browser, authorize: str) -> Any:
    """Follow a re-login redirect (``max_age`` / ``acr_values``): password, TOTP, back."""
    r = b.http.get(authorize, follow_redirects=False)
    interaction = r.headers["location"]
    page = b.http.get(interaction)
    r = b.http.post(
        f"{interaction}/login",
        data={"username": b.user.username, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    r = answer_mfa(b.http, interaction, b.http.get(interaction, follow_redirects=False), b.totp)
    callback = b.http.get(r.headers["location"], follow_redirects=False)
    return b.http.get(callback.headers["location"], follow_redirects=False)


def agencies(db: Session) -> dict[str, Agency]:
    """DISKOMINFO with a sub-agency BIDANG-TI, and DINKES beside it."""
    top = create_agency(db, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
    sub = create_agency(db, "BIDANG-TI", "Bidang Teknologi Informasi")
    sub.parent_id = top.id
    other = create_agency(db, "DINKES", "Dinas Kesehatan")
    db.commit()
    return {"DISKOMINFO": top, "BIDANG-TI": sub, "DINKES": other}


def person(
    runtime: Runtime,
    db: Session,
    username: str,
    *,
    role: str | None = None,
    agency: str = "DISKOMINFO",
    nip: str | None = None,
    kind: str = "staff",
    mfa: bool = True,
) -> tuple[User, str | None]:
    fields: dict[str, Any] = {"agency_code": agency, "nip": nip} if kind == "staff" else {}
    user = create_user(
        runtime, db, username=username, kind=kind, display_name=username.title(), **fields
    )
    if role:
        role_repo.assign_to_user(db, role_repo.get_or_create_global(db, role), user.id)
        db.commit()
    secret = enrol_totp(runtime, db, user) if mfa else None
    return user, secret


def browser(app: FastAPI, user: User, totp: str | None, path: str = "/admin") -> Browser:
    http = TestClient(app, base_url="http://testserver", headers={"accept": "text/html"})
    r = open_console_page(http, path, user.username, totp_secret=totp)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return Browser(http, user, totp)


@pytest.fixture
def mailbox() -> Iterator[smtp.Mailbox]:
    box = smtp.Mailbox()
    controller = smtp.start(box)
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def settings(
    backend: str, backend_urls: dict[str, str], tmp_path: Path, mailbox: smtp.Mailbox
) -> Settings:
    """Admin pages need MFA (the default); mail goes to a real SMTP server in the test."""
    return make_settings(
        backend_urls[backend],
        tmp_path,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_starttls=False,
    )


@pytest.fixture
def org(db: Session) -> dict[str, Agency]:
    return agencies(db)


@pytest.fixture
def admin(
    app: FastAPI, http: TestClient, runtime: Runtime, db: Session, org: dict[str, Agency]
) -> Iterator[Browser]:
    user, totp = person(runtime, db, "adminkota", role="admin", nip=NIP_ADMIN)
    b = browser(app, user, totp)
    yield b
    b.http.close()


@pytest.fixture
def opd_admin(
    app: FastAPI, http: TestClient, runtime: Runtime, db: Session, org: dict[str, Agency]
) -> Iterator[Browser]:
    user, totp = person(runtime, db, "adminopd", role="opd-admin", nip=NIP_OPD)
    b = browser(app, user, totp)
    yield b
    b.http.close()


@pytest.fixture
def helpdesk(
    app: FastAPI, http: TestClient, runtime: Runtime, db: Session, org: dict[str, Agency]
) -> Iterator[Browser]:
    user, totp = person(runtime, db, "bantuan", role="helpdesk", nip=NIP_HELP, agency="DINKES")
    b = browser(app, user, totp)
    yield b
    b.http.close()


@pytest.fixture
def auditor(
    app: FastAPI, http: TestClient, runtime: Runtime, db: Session, org: dict[str, Agency]
) -> Iterator[Browser]:
    user, totp = person(runtime, db, "pemeriksa", role="auditor", nip=NIP_AUDIT, agency="DINKES")
    b = browser(app, user, totp)
    yield b
    b.http.close()


def events(db: Session, name: str, **where: Any) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.event == name)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, key) == value)
    return list(db.scalars(stmt.order_by(AuditEvent.id)).all())
