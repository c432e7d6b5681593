"""The SSRF guard where client URLs enter and leave, with production's policy (no private,
loopback or link-local addresses): at registration in the portal and over RFC 7591, and again
right before a back-channel logout token is posted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core.clock import now
from sso.db.models import BackchannelLogoutDelivery, User
from sso.oauth import initial_access
from sso.oauth.clients import ClientSpec, register
from sso.oidc.backchannel import deliver_due
from sso.storage import logout as delivery_repo
from sso.web.app_runtime import AppRuntime
from tests.conftest import make_settings
from tests.developers.helpers import client_row, register_app

PUBLIC_LOGO = "https://93.184.216.34/logo.png"  # a public address: no DNS needed


@pytest.fixture
def settings(backend: str, backend_urls: dict[str, str], tmp_path: Path) -> Settings:
    return make_settings(backend_urls[backend], tmp_path, allow_private_client_urls=False)


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("backchannel_logout_uri", "https://10.0.0.8/logout"),
        ("backchannel_logout_uri", "http://127.0.0.1:9000/logout"),
        ("logo_uri", "https://169.254.169.254/latest/meta-data/"),
        ("client_uri", "https://[fd00::1]/"),
        ("logo_uri", "https://metadata.internal/logo.png"),
    ],
)
def test_the_portal_refuses_private_addresses(
    http: TestClient, dewi: User, field: str, url: str
) -> None:
    fields = {"logo_uri": PUBLIC_LOGO, "client_uri": "", field: url}
    _, _, r = register_app(http, **fields)
    assert r.status_code == 400
    assert "harus alamat https publik" in r.text


def test_the_portal_accepts_public_addresses(http: TestClient, dewi: User, db: Session) -> None:
    client_id, _, r = register_app(
        http,
        logo_uri=PUBLIC_LOGO,
        client_uri="",
        backchannel_logout_uri="https://93.184.216.34/logout",
    )
    assert r.status_code == 200, r.text
    assert client_row(db, client_id).backchannel_logout_uri == "https://93.184.216.34/logout"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("jwks_uri", "https://[::1]/jwks"),
        ("logo_uri", "https://192.168.0.1/logo.png"),
        ("policy_uri", "https://[::ffff:10.0.0.1]/policy"),
        ("tos_uri", "https://100.64.1.1/tos"),
        ("client_uri", "https://localhost/"),
        ("backchannel_logout_uri", "https://172.16.0.1/bc"),
    ],
)
def test_dynamic_registration_refuses_private_addresses(
    http: TestClient, runtime: AppRuntime, db: Session, field: str, url: str
) -> None:
    token = initial_access.issue(db, runtime.secret_key).token
    db.commit()
    body = {"client_name": "X", "redirect_uris": ["https://app.example.id/cb"], field: url}
    r = http.post("/oauth2/register", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_client_metadata" and field in r.json()["error_description"]


class _Receiver(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length", "0"))
        type(self).received.append(self.rfile.read(length))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/logout"
    server.shutdown()
    server.server_close()


def test_back_channel_logout_is_not_posted_to_a_private_address(
    runtime: AppRuntime, db: Session, siti: User, receiver: str
) -> None:
    runtime.keys.ensure_keys(db)
    db.commit()
    # A URI that passed at registration may point inside the network by the time it is used
    # (DNS changes); here it is a loopback receiver, registered behind the guard's back.
    client = register(
        db,
        runtime.secret_key,
        ClientSpec(
            name="RP",
            redirect_uris=["https://rp.example.id/cb"],
            backchannel_logout_uri=receiver,
        ),
    ).client
    db.commit()
    delivery_repo.enqueue(db, client_id=client.client_id, user_id=siti.id, session_id=None)
    db.commit()
    [outcome] = deliver_due(runtime)
    assert outcome.status == "retry" and "refused" in (outcome.error or "")
    assert _Receiver.received == []
    db.expire_all()
    [row] = db.scalars(select(BackchannelLogoutDelivery)).all()
    assert row.delivered_at is None and "refused" in (row.last_error or "")

    # A trusted (first-party, admin-registered) client may live on the city's network.
    client = client_row(db, client.client_id)
    assert client is not None
    client.trusted = True
    db.flush()
    row.next_attempt_at = now()
    db.flush()
    [outcome] = deliver_due(runtime)
    assert outcome.status == "delivered" and len(_Receiver.received) == 1
