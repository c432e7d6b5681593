"""``/admin/upstreams``: list with search and paging, create (callback URI shown, secret never
shown again), edit (an empty secret keeps it), disable after a confirmation, enable."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent, UpstreamProvider
from sso.federation import registry
from sso.runtime import Runtime
from tests.admin.conftest import Browser, confirm

FORM = {
    "preset": "inapas",
    "slug": "inapas",
    "name": "INApas",
    "issuer": "https://inapas.example.id",
    "client_id": "tangsel",
    "client_secret": "first-secret",
    "scope": "",
    "accounts": "citizen",
}


def the_upstream(db: Session) -> UpstreamProvider:
    row: UpstreamProvider | None = db.scalar(select(UpstreamProvider))
    assert row is not None
    return row


def test_create_edit_disable_enable(admin: Browser, runtime: Runtime, db: Session) -> None:
    page = admin.get("/admin/upstreams/new")
    assert page.status_code == 200 and "/upstreams/SLUG/callback" in page.text
    r = admin.post("/admin/upstreams", FORM, page="/admin/upstreams/new")
    assert r.status_code == 303 and r.headers["location"].startswith("/admin/upstreams/inapas")
    row = db.scalar(select(UpstreamProvider))
    assert row is not None
    assert row.identity_assurance and "nik" in row.scope.split()
    detail = admin.get("/admin/upstreams/inapas").text
    assert "http://testserver/upstreams/inapas/callback" in detail
    assert "first-secret" not in detail and row.client_secret_encrypted not in detail

    edit = {**FORM, "name": "INApas (Peruri)", "client_secret": "", "identity_assurance": "1"}
    r = admin.post("/admin/upstreams/inapas/edit", edit, page="/admin/upstreams/inapas")
    assert r.status_code == 303, r.text
    db.expire_all()
    row = db.scalar(select(UpstreamProvider))
    assert row is not None
    assert row.name == "INApas (Peruri)"
    assert registry.client_secret(runtime.encryptor, row) == "first-secret"

    bad = {**edit, "issuer": "ftp://nope"}
    r = admin.post("/admin/upstreams/inapas/edit", bad, page="/admin/upstreams/inapas")
    assert r.status_code == 400 and "https" in r.text

    # Disabling without the confirmation page does nothing.
    r = admin.post("/admin/upstreams/inapas/disable", {}, page="/admin/upstreams/inapas")
    assert r.headers["location"] == "/admin/upstreams/inapas/disable/confirm"
    db.expire_all()
    assert the_upstream(db).enabled
    text = admin.get("/admin/upstreams/inapas/disable/confirm").text
    assert "Masuk dengan INApas (Peruri)" in text and "0 identitas tertaut" in text
    r = confirm(admin, "/admin/upstreams/inapas/disable")
    assert r.status_code == 303
    db.expire_all()
    assert not the_upstream(db).enabled
    r = admin.post("/admin/upstreams/inapas/enable", {}, page="/admin/upstreams/inapas")
    db.expire_all()
    assert the_upstream(db).enabled
    names = set(db.scalars(select(AuditEvent.event)))
    assert {
        "upstream.created",
        "upstream.updated",
        "upstream.disabled",
        "upstream.enabled",
    } <= names


def test_list_searches_and_pages_both_ways(admin: Browser, runtime: Runtime, db: Session) -> None:
    with runtime.sessions() as s:
        for i in range(27):
            registry.create(
                s,
                runtime.settings,
                runtime.encryptor,
                registry.UpstreamSpec(
                    slug=f"idp-{i:02d}",
                    name=f"Penyedia {i:02d}",
                    issuer=f"https://idp{i}.example",
                    client_id="c",
                    client_secret="s",
                ),
            )
        s.commit()
    first = admin.get("/admin/upstreams").text
    assert "Penyedia 00" in first and "Penyedia 26" not in first and 'rel="next"' in first
    second = admin.get("/admin/upstreams?page=2").text
    assert "Penyedia 26" in second and 'rel="prev"' in second
    found = admin.get("/admin/upstreams?q=idp-07").text
    assert "Penyedia 07" in found and "Penyedia 08" not in found
    none = admin.get("/admin/upstreams?q=zzz").text
    assert "Tidak ada penyedia yang cocok" in none


def test_a_bad_form_keeps_what_was_typed(admin: Browser, db: Session) -> None:
    r = admin.post("/admin/upstreams", {**FORM, "slug": "Bad Slug"}, page="/admin/upstreams/new")
    assert r.status_code == 400 and 'value="Bad Slug"' in r.text
    assert db.scalar(select(UpstreamProvider)) is None
