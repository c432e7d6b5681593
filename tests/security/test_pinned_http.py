"""Outgoing calls to client URLs go to the address the SSRF guard vetted (issue 14, item 6):
one DNS lookup, every address vetted, the connection made to a vetted IP while the Host header,
TLS SNI and certificate check keep the host name. Real local servers, real resolver functions."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import BackchannelLogoutDelivery
from sso.oauth.clients import ClientSpec, register
from sso.oauth.pinned_http import pinned_post
from sso.oauth.url_guard import UnsafeURL
from sso.oidc.backchannel import deliver_due
from sso.storage import logout as delivery_repo
from sso.web.app_runtime import AppRuntime
from tests.factories import create_user

NAME = "rp.example.test"


@dataclass
class Seen:
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)  # (path, Host, body)
    sni: list[str | None] = field(default_factory=list)


class Receiver:
    """A real HTTP(S) server on ``address``; records what reaches it."""

    def __init__(self, address: str, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.seen = seen = Seen()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.requests.append((self.path, self.headers.get("Host", ""), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer((address, port), Handler)
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: seen.sni.append(name)  # type: ignore[assignment,misc]
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FlippingResolver:
    """Answers ``first`` to the first lookup and ``then`` to every later one (DNS rebinding)."""

    def __init__(self, first: list[str], then: list[str]) -> None:
        self.first, self.then, self.lookups = first, then, 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups += 1
        return self.first if self.lookups == 1 else self.then


@pytest.fixture
def vetted_and_other() -> Iterator[tuple[Receiver, Receiver]]:
    """Two servers on the same port: 127.0.0.1 (what the first lookup answers) and 127.0.0.2
    (what a rebinding second lookup would answer)."""
    vetted = Receiver("127.0.0.1")
    other = Receiver("127.0.0.2", vetted.port)
    yield vetted, other
    vetted.close()
    other.close()


def test_the_request_goes_to_the_address_looked_up_once(
    vetted_and_other: tuple[Receiver, Receiver],
) -> None:
    vetted, other = vetted_and_other
    resolver = FlippingResolver(["127.0.0.1"], ["127.0.0.2"])
    url = f"http://{NAME}:{vetted.port}/backchannel-logout?x=1"
    r = pinned_post(url, private_ok=True, data={"logout_token": "t"}, resolver=resolver)
    assert r.status_code == 200
    assert resolver.lookups == 1
    assert vetted.seen.requests == [
        ("/backchannel-logout?x=1", f"{NAME}:{vetted.port}", b"logout_token=t")
    ]
    assert other.seen.requests == []
    # Again: a new lookup (answering the other address now) is followed, and only it.
    pinned_post(url, private_ok=True, data={"logout_token": "u"}, resolver=resolver)
    assert resolver.lookups == 2 and len(other.seen.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["10.0.0.7"],
        ["8.8.8.8", "127.0.0.1"],
        ["::ffff:127.0.0.1"],
        ["169.254.169.254"],
    ],
)
def test_a_private_address_is_refused_before_connecting(
    vetted_and_other: tuple[Receiver, Receiver], answer: list[str]
) -> None:
    vetted, _other = vetted_and_other
    resolver = FlippingResolver(answer, ["127.0.0.1"])
    with pytest.raises(UnsafeURL, match="not a public"):
        pinned_post(
            f"https://{NAME}:{vetted.port}/logout", private_ok=False, data={}, resolver=resolver
        )
    assert resolver.lookups == 1
    assert vetted.seen.requests == []


@pytest.mark.parametrize("url", [f"http://{NAME}/x", "https://localhost/x", "https://u:p@a.id/"])
def test_urls_the_guard_refuses_send_nothing(url: str) -> None:
    resolver = FlippingResolver(["8.8.8.8"], ["8.8.8.8"])
    with pytest.raises(UnsafeURL):
        pinned_post(url, private_ok=False, data={}, resolver=resolver)
    assert resolver.lookups == 0


def test_an_unreachable_vetted_address_is_skipped_for_the_next(
    vetted_and_other: tuple[Receiver, Receiver],
) -> None:
    vetted, other = vetted_and_other
    other.close()  # nothing listens on 127.0.0.2 any more
    resolver = FlippingResolver(["127.0.0.2", "127.0.0.1"], [])
    r = pinned_post(f"http://{NAME}:{vetted.port}/cb", private_ok=True, resolver=resolver)
    assert r.status_code == 200 and len(vetted.seen.requests) == 1


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize(("served_name", "ok"), [(NAME, True), ("other.example.test", False)])
def test_tls_keeps_the_host_name_for_sni_and_the_certificate(
    tmp_path: Path, served_name: str, ok: bool
) -> None:
    cert, key = _certificate(tmp_path, served_name)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    receiver = Receiver("127.0.0.1", tls=server_tls)
    client_tls = ssl.create_default_context(cafile=str(cert))  # trusts this certificate only
    url = f"https://{NAME}:{receiver.port}/logout"
    resolver = FlippingResolver(["127.0.0.1"], ["127.0.0.2"])
    try:
        if ok:
            r = pinned_post(
                url, private_ok=True, data={"a": "b"}, resolver=resolver, verify=client_tls
            )
            assert r.status_code == 200
            assert receiver.seen.requests == [("/logout", f"{NAME}:{receiver.port}", b"a=b")]
        else:  # a certificate for another name is refused, though the address is the vetted one
            with pytest.raises(httpx.ConnectError, match="(?i)certificate|hostname"):
                pinned_post(
                    url, private_ok=True, data={"a": "b"}, resolver=resolver, verify=client_tls
                )
            assert receiver.seen.requests == []
        assert receiver.seen.sni[:1] == [NAME]
        assert resolver.lookups == 1
    finally:
        receiver.close()


def test_back_channel_logout_is_sent_to_the_vetted_address(
    runtime: AppRuntime, db: Session, vetted_and_other: tuple[Receiver, Receiver]
) -> None:
    vetted, other = vetted_and_other
    runtime.keys.ensure_keys(db)
    db.commit()
    siti = create_user(runtime, db, username="siti")
    client = register(
        db,
        runtime.secret_key,
        ClientSpec(
            name="RP",
            redirect_uris=["https://rp.example.id/cb"],
            backchannel_logout_uri=f"http://{NAME}:{vetted.port}/backchannel-logout",
        ),
    ).client
    db.commit()
    delivery_repo.enqueue(db, client_id=client.client_id, user_id=siti.id, session_id=None)
    db.commit()
    resolver = FlippingResolver(["127.0.0.1"], ["127.0.0.2"])
    [outcome] = deliver_due(runtime, resolver=resolver)
    assert outcome.status == "delivered", outcome.error
    assert resolver.lookups == 1
    [(path, host, body)] = vetted.seen.requests
    assert (path, host) == ("/backchannel-logout", f"{NAME}:{vetted.port}")
    assert body.startswith(b"logout_token=")
    assert other.seen.requests == []
    db.expire_all()
    [row] = db.scalars(select(BackchannelLogoutDelivery)).all()
    assert row.delivered_at is not None
