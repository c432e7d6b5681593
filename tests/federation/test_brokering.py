"""Logging in through an upstream, over HTTP: a second instance of our own provider, started as
a real server, plays INApas (a NIK claim, an identity-assurance source). Sign-up from the
claims, a linked identity logging in, an email match that never links by itself, the upstream's
refusal and the upstream down — with what is (and is not) written, and the audit events."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent, FederatedIdentity, User
from sso.federation import registry
from sso.runtime import Runtime
from sso.web.app_runtime import AppRuntime
from tests.factories import PASSWORD, create_user
from tests.federation.broker import (
    CALLBACK,
    RP,
    count,
    events,
    finish,
    id_claims,
    start_login,
    tokens,
)
from tests.federation.idp import NIK, Upstream, log_in_at_upstream
from tests.oidc.flow import authorize_url, csrf_of


def test_sign_up_through_inapas_stores_a_verified_nik(
    http: TestClient, db: Session, registered: str, rp: tuple[str, str], inapas: Upstream
) -> None:
    interaction, req, upstream_url = start_login(http, rp[0])
    query = parse_qs(urlsplit(upstream_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    assert query["redirect_uri"] == [CALLBACK]
    r = finish(http, log_in_at_upstream(upstream_url))
    assert r.status_code == 303 and r.headers["location"] == interaction

    user = db.scalar(select(User).where(User.email_normalized == inapas.email))
    assert user is not None and user.kind == "citizen" and user.email_verified
    assert user.display_name == "Siti Aminah" and user.password is None
    assert user.nik_verified and user.nik_encrypted and NIK not in user.nik_encrypted
    link = db.scalar(select(FederatedIdentity))
    assert link is not None
    assert link.user_id == user.id and link.subject == inapas.subject

    body = tokens(http, rp, req, interaction)
    claims = id_claims(http, body["id_token"])
    assert claims["amr"] == ["fed"] and claims["idp"] == inapas.url and claims["acr"] == "1"
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.json()["nik"] == NIK and info.json()["nik_verified"] is True
    assert {"user.registered", "federation.linked", "federation.login", "user.login"} <= set(
        events(db)
    )
    assert NIK not in json.dumps([e.details for e in db.scalars(select(AuditEvent))])

    # The linked identity logs the same person in, nothing new is made.
    http.cookies.clear()
    interaction, req, upstream_url = start_login(http, rp[0])
    r = finish(http, log_in_at_upstream(upstream_url))
    assert r.headers["location"] == interaction
    assert count(db, User) == 1 and count(db, FederatedIdentity) == 1
    assert id_claims(http, tokens(http, rp, req, interaction)["id_token"])["sub"] == user.id


def test_an_email_match_links_only_after_the_password(
    http: TestClient,
    runtime: Runtime,
    db: Session,
    registered: str,
    rp: tuple[str, str],
    inapas: Upstream,
) -> None:
    siti = create_user(runtime, db, username="siti", email=inapas.email)
    interaction, req, upstream_url = start_login(http, rp[0])
    r = finish(http, log_in_at_upstream(upstream_url))
    assert r.status_code == 303 and r.headers["location"].startswith("/upstreams/continue/")
    proof = r.headers["location"]
    assert count(db, FederatedIdentity) == 0  # never linked on the email alone
    page = http.get(proof)
    assert 'name="password"' in page.text and inapas.email in page.text

    r = http.post(proof, data={"password": "not the password", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 401
    assert count(db, FederatedIdentity) == 0 and count(db, User) == 1
    assert "federation.refused" in events(db)

    r = http.post(
        proof, data={"password": PASSWORD, "csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == interaction
    link = db.scalar(select(FederatedIdentity))
    assert link is not None
    assert link.user_id == siti.id
    db.expire_all()
    assert db.get_one(User, siti.id).nik_verified
    claims = id_claims(http, tokens(http, rp, req, interaction)["id_token"])
    assert claims["sub"] == siti.id and claims["amr"] == ["fed", "pwd"]
    # The proof page is used up.
    assert http.get(proof).status_code == 400


def test_an_unverified_account_is_told_to_verify_not_that_the_password_is_wrong(
    http: TestClient,
    runtime: Runtime,
    db: Session,
    registered: str,
    rp: tuple[str, str],
    inapas: Upstream,
) -> None:
    siti = create_user(runtime, db, username="siti", email=inapas.email)
    siti.email_verified = False
    db.commit()
    _, _, upstream_url = start_login(http, rp[0])
    proof = finish(http, log_in_at_upstream(upstream_url)).headers["location"]
    page = http.get(proof)
    r = http.post(proof, data={"password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 403
    assert "belum diverifikasi" in r.text and "Kata sandi salah" not in r.text
    assert count(db, FederatedIdentity) == 0


def test_refusal_at_the_upstream_creates_nothing(
    http: TestClient, db: Session, registered: str, rp: tuple[str, str]
) -> None:
    interaction, _, upstream_url = start_login(http, rp[0])
    callback = log_in_at_upstream(upstream_url, decision="deny", username="andi-inapas")
    assert "error=access_denied" in callback
    r = finish(http, callback)
    assert r.status_code == 403
    assert "dibatalkan atau ditolak" in r.text and f'href="{interaction}"' in r.text
    assert count(db, User) == 0 and count(db, FederatedIdentity) == 0
    assert events(db)[-1] == "federation.refused"
    assert finish(http, callback).status_code == 400  # the state is used up


def test_a_callback_in_another_browser_or_replayed_is_refused(
    http: TestClient, runtime: AppRuntime, db: Session, registered: str, rp: tuple[str, str]
) -> None:
    _, _, upstream_url = start_login(http, rp[0])
    callback = log_in_at_upstream(upstream_url)
    from sso.app import create_app

    with TestClient(create_app(runtime.settings, runtime)) as other:
        r = other.get(callback.removeprefix("http://testserver"), follow_redirects=False)
        assert r.status_code == 400
    assert count(db, User) == 0
    assert finish(http, callback).status_code == 303  # still good in the right browser
    assert finish(http, callback).status_code == 400  # once


def test_an_upstream_that_is_down_gives_a_page_with_a_way_back(
    http: TestClient, runtime: Runtime, db: Session, rp: tuple[str, str]
) -> None:
    from tests.e2e.conftest import free_port

    with runtime.sessions() as s:
        registry.create(
            s,
            runtime.settings,
            runtime.encryptor,
            registry.UpstreamSpec(
                slug="inapas",
                name="INApas",
                issuer=f"http://127.0.0.1:{free_port()}",
                client_id="x",
                client_secret="y",
                preset="inapas",
            ),
        )
        s.commit()
    req = authorize_url(rp[0], RP, "openid")
    interaction = http.get(req.url, follow_redirects=False).headers["location"]
    r = http.get(
        f"/upstreams/inapas/start?interaction={interaction.rsplit('/', 1)[1]}",
        follow_redirects=False,
    )
    assert r.status_code == 502
    assert "tidak dapat dihubungi" in r.text and f'href="{interaction}"' in r.text
    assert count(db, User) == 0


def test_a_disabled_upstream_has_no_button_and_no_login(
    http: TestClient,
    runtime: Runtime,
    db: Session,
    registered: str,
    rp: tuple[str, str],
    inapas: Upstream,
) -> None:
    _, _, upstream_url = start_login(http, rp[0])
    with runtime.sessions() as s:
        registry.disable(s, "inapas")
        s.commit()
    assert finish(http, log_in_at_upstream(upstream_url)).status_code == 400
    req = authorize_url(rp[0], RP, "openid")
    page = http.get(http.get(req.url, follow_redirects=False).headers["location"])
    assert "Masuk dengan INApas" not in page.text
    assert count(db, User) == 0


def test_the_console_links_another_and_never_unlinks_the_last_way(
    http: TestClient, runtime: Runtime, db: Session, registered: str, inapas: Upstream
) -> None:
    from sqlalchemy import delete

    from sso.db.models import PasswordCredential
    from tests.oidc.flow import open_console_page

    siti = create_user(runtime, db, username="siti", email="siti@lokal.example.id")
    page = open_console_page(http, "/account/identities", "siti")
    assert page.status_code == 200 and "Belum ada akun yang ditautkan" in page.text
    assert "Tautkan INApas" in page.text
    link = page.text.split('data-upstream="inapas" href="')[1].split('"')[0]
    r = http.get(link.replace("&amp;", "&"), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(inapas.url)
    assert http.get("/account/identities/link/inapas?csrf_token=forged").status_code in (400, 403)
    r = finish(http, log_in_at_upstream(r.headers["location"]))
    assert r.status_code == 303 and r.headers["location"] == "/account/identities?done=linked"
    identity = db.scalar(select(FederatedIdentity))
    assert identity is not None
    assert identity.user_id == siti.id  # linked to the person logged in, whatever the email
    db.expire_all()
    assert db.get_one(User, siti.id).nik_verified
    page = http.get("/account/identities?done=linked")
    assert "INApas" in page.text and "Identitas ditautkan" in page.text

    confirm = http.get(f"/account/identities?unlink={identity.id}")
    assert "Lepaskan INApas?" in confirm.text
    # Without a password the link is the last way to log in: refused.
    db.execute(delete(PasswordCredential).where(PasswordCredential.user_id == siti.id))
    r = http.post(
        "/account/identities/unlink",
        data={"identity_id": identity.id, "csrf_token": csrf_of(confirm.text)},
    )
    assert r.status_code == 409 and "satu-satunya cara" in r.text
    assert count(db, FederatedIdentity) == 1
    from sso.core.clock import now
    from sso.storage import users as user_repo

    with runtime.sessions() as s:
        user_repo.set_password_hash(s, siti.id, "x", now())
        s.commit()
    r = http.post(
        "/account/identities/unlink",
        data={"identity_id": identity.id, "csrf_token": csrf_of(confirm.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert count(db, FederatedIdentity) == 0
    assert {"federation.linked", "federation.unlinked"} <= set(events(db))
