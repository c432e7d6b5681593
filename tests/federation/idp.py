"""A second instance of our own provider, started as a real server, playing an upstream
identity provider ("INApas" with a NIK claim, or "Google"): its own SQLite database, its own
keys, a citizen and a client registered for the SSO under test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import update

from sso.accounts import profile
from sso.app import create_app
from sso.db.models import Client
from sso.runtime import Runtime, upgrade_database
from sso.web.app_runtime import build_app_runtime
from tests.conftest import make_settings
from tests.e2e.conftest import free_port
from tests.factories import PASSWORD, create_client, create_user
from tests.oidc.flow import csrf_of

NIK = "3674015505900001"  # Tangerang Selatan (36 74 01), born 15-05-1990 (female: +40)


@dataclass
class Upstream:
    url: str
    runtime: Runtime
    client_id: str
    client_secret: str
    subject: str  # the citizen's sub at the upstream
    email: str
    more_clients: list[tuple[str, str]] = field(default_factory=list)

    def allow_redirect(self, *uris: str, client_id: str | None = None) -> None:
        """Register the SSO under test's callback URIs at this upstream."""
        with self.runtime.sessions() as s:
            s.execute(
                update(Client)
                .where(Client.client_id == (client_id or self.client_id))
                .values(redirect_uris=list(uris))
            )
            s.commit()


@contextmanager
def running_upstream(
    tmp: Path,
    *,
    email: str = "siti.aminah@inapas.example.id",
    name: str = "Siti Aminah",
    nik: str | None = NIK,
    people: tuple[tuple[str, str, str], ...] = (),
    clients: int = 1,
) -> Iterator[Upstream]:
    """The upstream with its citizen ``siti-inapas`` (and ``people``: username, email, name)
    and ``clients`` registrations for the SSO under test (the first in ``client_id``, all
    in ``more_clients``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database = f"sqlite:///{tmp / 'upstream.db'}"
    upgrade_database(database)
    settings = make_settings(database, tmp, issuer=url)
    runtime = build_app_runtime(settings)
    with runtime.sessions() as s:
        user = create_user(
            runtime,
            s,
            username="siti-inapas",
            email=email,
            display_name=name,
            given_name=name.split()[0],
        )
        # A second person who has never consented (the refusal's tests decline on their
        # consent page; the first person's consent is remembered after their first login).
        create_user(
            runtime, s, username="andi-inapas", email="andi@inapas.example.id", display_name="Andi"
        )
        for username, address, shown in people:
            create_user(runtime, s, username=username, email=address, display_name=shown)
        if nik:
            profile.set_nik(s, settings, runtime.encryptor, user, nik)
            s.commit()
        client, secret = create_client(
            runtime,
            s,
            name="Tangsel SSO",
            scope="openid profile email nik",
            redirect_uris=["https://placeholder.example/cb"],
        )
        assert secret
        upstream = Upstream(url, runtime, client.client_id, secret, user.id, email)
        for _ in range(clients - 1):
            other, other_secret = create_client(
                runtime,
                s,
                name="Tangsel SSO (2)",
                scope="openid profile email nik",
                redirect_uris=["https://placeholder.example/cb"],
            )
            assert other_secret
            upstream.more_clients.append((other.client_id, other_secret))
    app = create_app(settings, runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("upstream server did not start")
        time.sleep(0.05)
    try:
        yield upstream
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.dispose()


def log_in_at_upstream(
    authorize_url: str,
    *,
    decision: str = "allow",
    username: str = "siti-inapas",
    password: str = PASSWORD,
) -> str:
    """A person at the upstream: follows its authorization URL, logs in, answers the consent;
    returns where the upstream sends the browser back (our callback, with code or error)."""
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        r = browser.get(authorize_url)
        assert r.status_code == 303, r.text
        base = authorize_url.split("/authorize")[0]
        interaction = base + r.headers["location"]
        page = browser.get(interaction)
        r = browser.post(
            f"{interaction}/login",
            data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        )
        assert r.status_code == 303, r.text
        page = browser.get(interaction)
        if page.status_code == 303:
            return str(page.headers["location"])
        assert 'name="decision"' in page.text, page.text[:500]
        r = browser.post(
            f"{interaction}/consent", data={"decision": decision, "csrf_token": csrf_of(page.text)}
        )
        assert r.status_code == 303, r.text
        return str(r.headers["location"])
