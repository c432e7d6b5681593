"""Issue 14 item 9: a login with a passkey (no password) follows the rules of a password login:
unverified citizens and disabled accounts are refused the same way, failures and successes
count in the guessing limits, and ``user.login`` / ``user.login_failed`` say which method.

The passkey is a small software authenticator written from the WebAuthn spec (§6.1
authenticator data, §7.2 verifying an assertion): an ES256 key, its COSE public key stored as a
registered credential, and assertions signed over authenticator data + hash(client data)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import timedelta
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent, User, WebAuthnCredential
from sso.runtime import Runtime
from tests.factories import PASSWORD, create_client, create_user
from tests.oidc.flow import authorize_url, csrf_of

RP_ID, ORIGIN = "testserver", "http://testserver"
FLAG_UP, FLAG_UV = 0x01, 0x04


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Authenticator:
    """One discoverable ES256 passkey of one person."""

    def __init__(self, db: Session, user: User) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = b64url(os.urandom(16))
        self.user_id = user.id
        self.count = 0
        numbers = self.key.public_key().public_numbers()
        cose = {
            1: 2,
            3: -7,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }  # EC2, ES256, P-256, x, y
        db.add(
            WebAuthnCredential(
                user_id=user.id,
                credential_id=self.credential_id,
                public_key=b64url(cbor2.dumps(cose)),
                name="Ponsel",
                discoverable=True,
            )
        )
        db.commit()

    def assertion(
        self, challenge: str, *, verified: bool = True, forged: bool = False
    ) -> dict[str, Any]:
        self.count += 1
        flags = FLAG_UP | (FLAG_UV if verified else 0)
        auth_data = (
            hashlib.sha256(RP_ID.encode()).digest() + bytes([flags]) + self.count.to_bytes(4, "big")
        )
        client_data = json.dumps(
            {"type": "webauthn.get", "challenge": challenge, "origin": ORIGIN, "crossOrigin": False}
        ).encode()
        signer = ec.generate_private_key(ec.SECP256R1()) if forged else self.key
        signature = signer.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": self.credential_id,
            "rawId": self.credential_id,
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_id.encode()),
            },
        }


class Browser:
    """A fresh browser at the login page of a new authorization request."""

    def __init__(self, app: FastAPI, client_id: str) -> None:
        self.http = TestClient(app, base_url="http://testserver")
        self.interaction = self.http.get(
            authorize_url(client_id).url, follow_redirects=False
        ).headers["location"]
        self.token = csrf_of(self.http.get(self.interaction).text)

    def passkey(self, key: Authenticator, **how: bool) -> Any:
        r = self.http.post(f"{self.interaction}/passkey/options", json={"csrf_token": self.token})
        assert r.status_code == 200, r.text
        options = r.json()
        return self.http.post(
            f"{self.interaction}/passkey",
            json={
                "csrf_token": self.token,
                "handle": options["handle"],
                "credential": key.assertion(options["options"]["challenge"], **how),
            },
        )

    def password(self, username: str, password: str) -> Any:
        return self.http.post(
            f"{self.interaction}/login",
            data={"username": username, "password": password, "csrf_token": self.token},
            follow_redirects=False,
        )


def audit(db: Session, name: str) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)).all()
    )


@pytest.fixture
def client_id(runtime: Runtime, db: Session) -> str:
    return create_client(runtime, db)[0].client_id


def test_a_passkey_login_is_recorded_with_its_method(
    app: FastAPI, runtime: Runtime, db: Session, client_id: str
) -> None:
    siti = create_user(runtime, db, username="siti")
    key = Authenticator(db, siti)
    b = Browser(app, client_id)
    r = b.passkey(key)
    assert r.status_code == 200, r.text
    assert r.json() == {"redirect": b.interaction}
    assert "sso_session" in b.http.cookies
    [login] = audit(db, "user.login")
    assert login.actor_id == siti.id and login.details["method"] == "passkey"
    assert not audit(db, "user.login_failed")


@pytest.mark.parametrize(
    ("change", "reason", "key"),
    [
        ({"email_verified": False}, "unverified", "login.email_unverified"),
        ({"status": "disabled"}, "disabled", "login.account_disabled"),
    ],
)
def test_a_passkey_login_refuses_what_a_password_login_refuses(
    app: FastAPI,
    runtime: Runtime,
    db: Session,
    client_id: str,
    change: dict[str, object],
    reason: str,
    key: str,
) -> None:
    siti = create_user(runtime, db, username="siti")
    passkey = Authenticator(db, siti)
    for name, value in change.items():
        setattr(siti, name, value)
    # Registered long ago: past the grace login of a new, unverified account (issue 15).
    siti.created_at = siti.created_at - timedelta(days=1)
    db.commit()
    # The password login's answer, for comparison.
    assert Browser(app, client_id).password("siti", PASSWORD).status_code == 401
    b = Browser(app, client_id)
    r = b.passkey(passkey)
    assert r.status_code == 400 and r.json()["error"] == key
    assert "sso_session" not in b.http.cookies
    assert not audit(db, "user.login")
    password_refusal, passkey_refusal = audit(db, "user.login_failed")
    assert password_refusal.details == {"reason": reason, "method": "password"}
    assert passkey_refusal.details == {"reason": reason, "method": "passkey"}
    assert passkey_refusal.actor_id == passkey_refusal.target_id == siti.id


def test_failed_passkey_logins_count_like_wrong_passwords(
    app: FastAPI, runtime: Runtime, db: Session, client_id: str
) -> None:
    """Five assertions with a wrong signature lock the account as five wrong passwords do: the
    right password then waits."""
    siti = create_user(runtime, db, username="siti")
    key = Authenticator(db, siti)
    limit = runtime.settings.login_max_failures_account_ip
    for _ in range(limit):
        r = Browser(app, client_id).passkey(key, forged=True)
        assert r.status_code == 400 and r.json()["error"] == "mfa.passkey_failed"
    failed = audit(db, "user.login_failed")
    assert len(failed) == limit
    assert {(e.actor_id, e.details["reason"], e.details["method"]) for e in failed} == {
        (siti.id, "bad_passkey", "passkey")
    }
    r = Browser(app, client_id).password("siti", PASSWORD)
    assert r.status_code == 429 and r.headers["Retry-After"]
    # And a locked account is locked for passkeys too.
    r = Browser(app, client_id).passkey(key)
    assert r.status_code == 429 and r.json()["error"] == "login.locked"
    assert r.headers["Retry-After"]


def test_a_passkey_login_clears_the_failures_as_a_password_login_does(
    app: FastAPI, runtime: Runtime, db: Session, client_id: str
) -> None:
    siti = create_user(runtime, db, username="siti")
    key = Authenticator(db, siti)
    almost = runtime.settings.login_max_failures_account_ip - 1
    for _ in range(almost):
        assert Browser(app, client_id).password("siti", "wrong password").status_code == 401
    assert Browser(app, client_id).passkey(key).status_code == 200
    for _ in range(almost):
        assert Browser(app, client_id).password("siti", "wrong password").status_code == 401
    assert Browser(app, client_id).password("siti", PASSWORD).status_code == 303


def test_a_passkey_without_user_verification_does_not_log_in(
    app: FastAPI, runtime: Runtime, db: Session, client_id: str
) -> None:
    siti = create_user(runtime, db, username="siti")
    key = Authenticator(db, siti)
    b = Browser(app, client_id)
    r = b.passkey(key, verified=False)
    assert r.status_code == 400
    assert "sso_session" not in b.http.cookies
    [failed] = audit(db, "user.login_failed")
    assert failed.details["method"] == "passkey" and failed.actor_id == siti.id
