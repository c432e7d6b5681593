"""Issue 15: the owner of the local account an upstream's email matched may prove it with a
passkey — alone when the authenticator verified the person (a whole proof), or as the second
step after the password (a person whose only second factor is a passkey). Over HTTP, with the
software authenticator of the passkey login tests; nothing is linked before the proof."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.accounts import mfa
from sso.db.models import FederatedIdentity
from sso.runtime import Runtime
from tests.factories import PASSWORD, create_user
from tests.federation.broker import count, events, finish, id_claims, start_login, tokens
from tests.federation.idp import Upstream, log_in_at_upstream
from tests.oidc.flow import csrf_of
from tests.web.test_passkey_login import Authenticator


def proof_page(http: TestClient, rp: tuple[str, str]) -> tuple[str, Any, str, str]:
    """The app's request, the upstream login, and the proof page: (interaction, request,
    proof page path, its CSRF token)."""
    interaction, req, upstream_url = start_login(http, rp[0])
    r = finish(http, log_in_at_upstream(upstream_url))
    assert r.status_code == 303 and r.headers["location"].startswith("/upstreams/continue/")
    proof = r.headers["location"]
    page = http.get(proof)
    assert "Pakai passkey" in page.text and f'data-options="{proof}/passkey/options"' in page.text
    return interaction, req, proof, csrf_of(page.text)


def use_passkey(
    http: TestClient,
    proof: str,
    csrf: str,
    key: Authenticator,
    *,
    verified: bool = True,
    password: str | None = None,
) -> Any:
    r = http.post(f"{proof}/passkey/options", json={"csrf_token": csrf})
    assert r.status_code == 200, r.text
    begin = r.json()
    assert [c["id"] for c in begin["options"]["allowCredentials"]] == [key.credential_id]
    body = {
        "csrf_token": csrf,
        "handle": begin["handle"],
        "credential": key.assertion(begin["options"]["challenge"], verified=verified),
    }
    if password is not None:
        body["password"] = password
    return http.post(f"{proof}/passkey", json=body)


def test_a_verified_passkey_alone_proves_the_account(
    http: TestClient,
    runtime: Runtime,
    db: Session,
    registered: Any,
    rp: tuple[str, str],
    inapas: Upstream,
) -> None:
    siti = create_user(runtime, db, username="siti", email=inapas.email)
    key = Authenticator(db, siti)
    interaction, req, proof, csrf = proof_page(http, rp)

    # A touch without PIN, fingerprint or face is possession only: not enough alone.
    r = use_passkey(http, proof, csrf, key, verified=False)
    assert r.status_code == 400 and "tidak memeriksa PIN" in r.json()["message"]
    assert count(db, FederatedIdentity) == 0

    r = use_passkey(http, proof, csrf, key)
    assert r.status_code == 200, r.text
    assert r.json()["redirect"] == interaction
    link = db.scalar(select(FederatedIdentity))
    assert link is not None and link.user_id == siti.id
    claims = id_claims(http, tokens(http, rp, req, interaction)["id_token"])
    assert claims["sub"] == siti.id and claims["acr"] == mfa.ACR_MFA
    assert claims["amr"] == ["fed", "hwk", "user", "mfa"]
    assert {"federation.linked", "federation.login"} <= set(events(db))
    assert http.get(proof).status_code == 400  # the proof page is used up


def test_password_then_passkey_when_the_passkey_is_the_only_second_factor(
    http: TestClient,
    runtime: Runtime,
    db: Session,
    registered: Any,
    rp: tuple[str, str],
    inapas: Upstream,
) -> None:
    siti = create_user(runtime, db, username="siti", email=inapas.email)
    key = Authenticator(db, siti)
    interaction, req, proof, csrf = proof_page(http, rp)

    # The password alone is not the whole proof: the page asks for the passkey.
    r = http.post(proof, data={"password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 401 and "Pakai passkey" in r.text
    # A wrong password with the right passkey links nothing.
    r = use_passkey(http, proof, csrf, key, verified=False, password="not the password")
    assert r.status_code == 401 and "Kata sandi salah" in r.json()["message"]
    # Someone else's passkey (with Siti's password) is refused: the challenge is Siti's.
    budi_key = Authenticator(db, create_user(runtime, db, username="budi"))
    begin = http.post(f"{proof}/passkey/options", json={"csrf_token": csrf}).json()
    r = http.post(
        f"{proof}/passkey",
        json={
            "csrf_token": csrf,
            "handle": begin["handle"],
            "password": PASSWORD,
            "credential": budi_key.assertion(begin["options"]["challenge"]),
        },
    )
    assert r.status_code == 400 and count(db, FederatedIdentity) == 0

    r = use_passkey(http, proof, csrf, key, verified=False, password=PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json()["redirect"] == interaction
    db.expire_all()
    link = db.scalar(select(FederatedIdentity))
    assert link is not None and link.user_id == siti.id
    claims = id_claims(http, tokens(http, rp, req, interaction)["id_token"])
    assert claims["amr"] == ["fed", "pwd", "hwk", "mfa"] and claims["acr"] == mfa.ACR_MFA
