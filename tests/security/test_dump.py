"""A dump of the database holds no usable secret (PostgreSQL, ``pg_dump``).

Seeded the way they are made in production (over HTTP where a person or relying party makes
them): a password, a confidential client's secret, an authorization code, a refresh token, an
access token, a login session cookie, a password-reset link (mailed through a real SMTP
server), a TOTP secret and the signing keys. The plain-text dump must contain none of them,
no PEM private key, and none of our token prefixes (``tsso_…``: a stored token would carry
one), while it does contain the rows they belong to.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from fastapi.testclient import TestClient
from joserfc.jwk import import_key
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.crypto import PREFIXES
from sso.web.app_runtime import AppRuntime
from tests.accounts import mailbox as smtp
from tests.conftest import make_settings
from tests.factories import PASSWORD, create_client, create_user, enrol_totp
from tests.oidc.flow import authorize_url, csrf_of, login, query_of
from tests.security.conftest import postgres_only

REDIRECT = "https://rp.example.id/callback"


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
    return make_settings(
        backend_urls[backend],
        tmp_path,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_starttls=False,
    )


def pg_dump_binary() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)
    path = found[0] if found else shutil.which("pg_dump")
    if path is None:
        pytest.skip("pg_dump is not installed")
    return path


def dump(database_url: str) -> str:
    url = make_url(database_url)
    command = [
        pg_dump_binary(),
        "--no-owner",
        "--no-privileges",
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
        "-d",
        str(url.database),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_database_dump_holds_no_usable_secret(
    backend: str, http: TestClient, runtime: AppRuntime, db: Session, mailbox: smtp.Mailbox
) -> None:
    postgres_only(backend)
    secrets: dict[str, str] = {"password": PASSWORD}
    user = create_user(runtime, db, username="siti", email="siti@example.id")
    client, client_secret = create_client(runtime, db, redirect_uris=[REDIRECT])
    assert client_secret is not None
    secrets["client secret"] = client_secret

    # A code redeemed for tokens, and then a second code left waiting.
    req = authorize_url(client.client_id, scope="openid profile offline_access")
    code = query_of(login(http, req, "siti"))["code"]
    r = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": req.verifier,
        },
        auth=(client.client_id, client_secret),
    )
    assert r.status_code == 200, r.text
    secrets["refresh token"] = r.json()["refresh_token"]
    secrets["access token"] = r.json()["access_token"]
    secrets["redeemed code"] = code
    again = authorize_url(client.client_id, scope="openid profile offline_access")
    r = http.get(again.url, follow_redirects=False)
    secrets["waiting code"] = query_of(r.headers["location"])["code"]
    secrets["session cookie"] = http.cookies["sso_session"]

    # A password-reset link, mailed.
    page = http.get("/password/forgot")
    r = http.post(
        "/password/forgot", data={"email": "siti@example.id", "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 200
    link = mailbox.wait(1)[0].link("/password/reset")
    secrets["reset token"] = link.split("token=", 1)[1]

    secrets["TOTP secret"] = enrol_totp(runtime, db, user)

    # The signing keys: the PEM body and the private JWK members.
    snapshot = runtime.keys.cache._current(None)
    for alg, key in snapshot.signing.items():
        pem = key.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        body = "".join(pem.decode().splitlines()[1:-1])
        secrets[f"{alg} private key (PEM body)"] = body[:64]
        private = import_key(pem.decode()).as_dict(private=True)
        for member in ("d", "p", "q"):
            if member in private:
                secrets[f"{alg} private JWK {member}"] = str(private[member])

    text = dump(runtime.settings.database_url)

    # The rows are there...
    for table in (
        "users",
        "clients",
        "authorization_codes",
        "refresh_tokens",
        "login_sessions",
        "account_tokens",
        "totp_credentials",
        "signing_keys",
    ):
        assert f"COPY public.{table} " in text, table
    assert "siti@example.id" in text and client.client_id in text
    # ...their secrets are not.
    for name, value in secrets.items():
        assert value and value not in text, f"{name} is in the dump"
    assert "PRIVATE KEY" not in text
    for kind, prefix in PREFIXES.items():
        assert prefix not in text, f"a raw {kind} is in the dump"
