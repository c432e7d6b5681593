"""Without a grace login (SSO_EMAIL_VERIFICATION_GRACE_MINUTES=0), a registration started on
an app's login page goes back to that app, logged in, when the verification link is opened in
the same browser; in another browser the link only verifies."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.config import Settings
from sso.runtime import Runtime
from tests.accounts import mailbox as smtp
from tests.accounts.conftest import rp_client
from tests.accounts.console import RP
from tests.accounts.helpers import PASSWORD, path_of
from tests.conftest import make_settings
from tests.oidc.flow import authorize_url, csrf_of, query_of


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
        email_verification_grace_minutes=0,
    )


def register_from_app(http: TestClient, client_id: str) -> str:
    first = http.get(authorize_url(client_id).url, follow_redirects=False)
    interaction = first.headers["location"]
    form = http.get(f"/register?interaction={interaction.rsplit('/', 1)[-1]}")
    sent = http.post(
        "/register",
        data={
            "name": "Ani",
            "email": "ani@example.id",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "phone": "",
            "interaction": interaction.rsplit("/", 1)[-1],
            "csrf_token": csrf_of(form.text),
        },
    )
    assert sent.status_code == 200
    # No grace: not logged in; the way back is the app's login page.
    assert http.get(interaction, follow_redirects=False).status_code == 200
    return interaction


def test_the_link_in_the_same_browser_goes_back_to_the_app_logged_in(
    runtime: Runtime,
    db: Session,
    http: TestClient,
    mailbox: smtp.Mailbox,
) -> None:
    client, _ = rp_client(runtime, db, trusted=True)
    interaction = register_from_app(http, client.client_id)
    link = mailbox.wait(1)[0].link("/register/verify")
    verified = http.get(path_of(link))
    assert verified.status_code == 200 and 'id="back-to-app"' in verified.text
    assert f'href="{interaction}"' in verified.text
    back = http.get(interaction, follow_redirects=False)
    assert back.status_code in (302, 303) and back.headers["location"].startswith(RP)
    assert "code" in query_of(back.headers["location"])


def test_the_link_in_another_browser_only_verifies(
    app: FastAPI,
    runtime: Runtime,
    db: Session,
    http: TestClient,
    mailbox: smtp.Mailbox,
) -> None:
    client, _ = rp_client(runtime, db, trusted=True)
    register_from_app(http, client.client_id)
    link = mailbox.wait(1)[0].link("/register/verify")
    with TestClient(app, base_url="http://testserver") as other:
        verified = other.get(path_of(link))
    assert verified.status_code == 200 and 'id="back-to-app"' not in verified.text
