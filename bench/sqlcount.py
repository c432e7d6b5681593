"""Count the database work behind each kind of request (``bench/run.py --profile`` runs it).

Builds the provider in-process with ``create_app(load_settings())`` against the bench database
(the same SSO_* settings as the server), listens to the engine's events, and sends each kind
of request through Starlette's TestClient: once to warm caches, then once counted. For each it
prints SQL statements, transactions (BEGIN, COMMIT/ROLLBACK: each a round trip with psycopg)
and pings of idle pooled connections (each a round trip; sso/db/engine.py pings only a
connection idle for 2 s), and the statements themselves.
The provider code is not changed; the listeners only observe.

Input (stdin, JSON): Basic credentials and tokens made by run.py.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import event

from sso.app import create_app
from sso.config import load_settings

CSRF_RE = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


class Counter:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.begins = self.commits = self.rollbacks = self.pings = 0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def round_trips(self) -> int:
        return len(self.statements) + self.begins + self.commits + self.rollbacks + self.pings


def attach(engine: Any, counter: Counter) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _stmt(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counter.statements.append(" ".join(statement.split())[:110])

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        counter.begins += 1

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        counter.commits += 1

    @event.listens_for(engine, "rollback")
    def _rollback(conn: Any) -> None:
        counter.rollbacks += 1

    # Pings (sso/db/engine.py): only for a pooled connection idle for 2 s or more.
    ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        counter.pings += 1
        return bool(ping(dbapi_connection))

    engine.dialect.do_ping = counted_ping


def main() -> None:
    spec = json.load(sys.stdin)
    settings = load_settings()
    app = create_app(settings)
    runtime = app.state.runtime
    counter = Counter()
    attach(runtime.engine, counter)
    report: list[str] = []

    with TestClient(app, base_url=settings.issuer_url) as http:

        def count(name: str, send: Callable[[], Any], warm: Callable[[], Any] | None = None) -> Any:
            (warm or send)()
            counter.reset()
            result = send()
            report.append(
                f"{name}: {len(counter.statements)} statements, {counter.begins} BEGIN, "
                f"{counter.commits} COMMIT, {counter.rollbacks} ROLLBACK, {counter.pings} "
                f"pings => ~{counter.round_trips()} round trips"
            )
            report.extend(f"    {s}" for s in counter.statements)
            return result

        cc = {"Authorization": spec["cc"]}
        rp = {"Authorization": spec["rp"]}
        count(
            "GET /.well-known/openid-configuration",
            lambda: http.get("/.well-known/openid-configuration"),
        )
        count("GET /jwks.json", lambda: http.get("/jwks.json"))
        count(
            "POST /token client_credentials",
            lambda: http.post("/token", data={"grant_type": "client_credentials"}, headers=cc),
        )
        refresh = spec["refresh"]
        count(
            "POST /token refresh_token",
            lambda: http.post(
                "/token",
                headers=rp,
                data={"grant_type": "refresh_token", "refresh_token": refresh[1]},
            ),
            warm=lambda: http.post(
                "/token",
                headers=rp,
                data={"grant_type": "refresh_token", "refresh_token": refresh[0]},
            ),
        )
        count(
            "POST /introspect",
            lambda: http.post("/introspect", headers=rp, data={"token": spec["access"]}),
        )
        count(
            "GET /userinfo",
            lambda: http.get("/userinfo", headers={"Authorization": f"Bearer {spec['access']}"}),
        )

        def login_steps() -> dict[str, Callable[[], Any]]:
            """The five requests of one login, each a closure over the previous answers."""
            http.cookies.clear()
            verifier = secrets.token_urlsafe(48)
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            query = urlencode(
                {
                    "response_type": "code",
                    "client_id": spec["rp_id"],
                    "redirect_uri": spec["redirect_uri"],
                    "scope": spec["scope"],
                    "state": "s" * 16,
                    "nonce": "n" * 16,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                }
            )
            state: dict[str, Any] = {}

            def authorize() -> None:
                state["interaction"] = http.get(
                    f"/authorize?{query}", follow_redirects=False
                ).headers["location"]

            def page() -> None:
                text = http.get(state["interaction"]).text
                state["csrf"] = html.unescape(CSRF_RE.search(text).group(1))  # type: ignore[union-attr]

            def post() -> None:
                http.post(
                    f"{state['interaction']}/login",
                    follow_redirects=False,
                    data={
                        "username": spec["username"],
                        "password": spec["password"],
                        "csrf_token": state["csrf"],
                    },
                )

            def resume() -> None:
                location = http.get(state["interaction"], follow_redirects=False).headers[
                    "location"
                ]
                state["code"] = parse_qs(urlsplit(location).query)["code"][0]

            def token() -> None:
                r = http.post(
                    "/token",
                    auth=(spec["rp_id"], spec["rp_secret"]),
                    data={
                        "grant_type": "authorization_code",
                        "code": state["code"],
                        "redirect_uri": spec["redirect_uri"],
                        "code_verifier": verifier,
                    },
                )
                assert r.status_code == 200, r.text

            return {
                "GET /authorize": authorize,
                "GET /interaction/{id} (login page)": page,
                "POST /interaction/{id}/login": post,
                "GET /interaction/{id} (resume -> code)": resume,
                "POST /token authorization_code": token,
            }

        for step in login_steps().values():  # warm-up login
            step()
        totals = Counter()
        for name, step in login_steps().items():
            count(name, step, warm=lambda: None)
            totals.statements += counter.statements
            totals.begins += counter.begins
            totals.commits += counter.commits
            totals.pings += counter.pings
        report.append(
            f"whole login (5 requests): {len(totals.statements)} statements, "
            f"~{totals.round_trips()} round trips"
        )
    print("\n".join(report))


if __name__ == "__main__":
    main()
