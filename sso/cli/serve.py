"""``sso serve`` (uvicorn) and ``sso bootstrap`` (first admin and signing keys).

Graceful shutdown: on SIGTERM each worker first flips ``/readyz`` to 503 ("draining") and
keeps serving for ``SSO_SHUTDOWN_DRAIN_SECONDS``, so a load balancer polling readiness stops
sending it new requests; only then does uvicorn stop accepting connections, finish the
requests in flight (up to 20 s) and run the application's shutdown. A second SIGTERM during
the drain is ignored; SIGINT (Ctrl-C) stops at once, as before.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from types import FrameType
from typing import Any

import typer

from sso.cli._common import fail, runtime, settings, unit_of_work
from sso.config import Settings

log = logging.getLogger("sso.serve")

# ASGI's shapes, spelt out here (starlette belongs to the web layer).
Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class DrainOnTerm:
    """ASGI wrapper around the provider that adds the drain step to uvicorn's SIGTERM.

    uvicorn installs its signal handlers before the application starts; once the lifespan
    startup is complete this puts a handler in front of uvicorn's SIGTERM handler."""

    def __init__(self, app: Any, delay: float) -> None:
        self.app = app
        self.delay = delay
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_and_arm(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.arm()
            await send(message)

        await self.app(scope, receive, send_and_arm)

    def arm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can be handled only there (not the case under uvicorn)
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return

        def on_term(sig: int, frame: FrameType | None) -> None:
            if self.draining:
                return
            self.draining = True
            self.app.state.draining = True
            self.app.state.ready = False
            log.warning("SIGTERM: readiness is 503; stopping in %.1f s", self.delay)
            timer = threading.Timer(self.delay, previous, args=(sig, frame))
            timer.daemon = True
            timer.start()

        signal.signal(signal.SIGTERM, on_term)


def create_served_app() -> DrainOnTerm:
    """Factory for uvicorn (``sso serve``): the provider with the drain step."""
    from sso.app import create_app_from_environment

    app = create_app_from_environment()
    return DrainOnTerm(app, app.state.runtime.settings.shutdown_drain_seconds)


def share_password_checks(s: Settings, workers: int) -> None:
    """With the cap left at 0 ("the cores"), give each worker its share of the machine's cores
    (at least 1), so a login storm runs about as many argon2 checks at once as there are
    cores, not cores × workers (bench/README.md). The workers read it from the environment."""
    if s.password_check_concurrency == 0 and workers > 1:
        share = max(1, (os.cpu_count() or 1) // workers)
        os.environ["SSO_PASSWORD_CHECK_CONCURRENCY"] = str(share)


def served_issuer(host: str, port: int) -> str:
    """The issuer of a server on ``host``:``port`` (a wildcard address is reached on loopback)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (naming the wildcard, not binding it)
        host = "127.0.0.1"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def follow_served_address(s: Settings, host: str, port: int) -> Settings:
    """Without an explicit SSO_ISSUER, the issuer is the address being served, so that
    ``sso serve --port 8090`` issues tokens (and sends the console's login) to :8090, not to
    the default :8000. An explicit SSO_ISSUER (environment or .env) always wins: behind a proxy
    the public URL is not the address uvicorn listens on. The workers read it from the
    environment."""
    if "issuer" in s.model_fields_set:
        return s
    os.environ["SSO_ISSUER"] = served_issuer(host, port)
    return settings()


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8000, "--port"),
        workers: int = typer.Option(1, "--workers", min=1),
    ) -> None:
        """Serve the provider (uvicorn; several workers share nothing but the database)."""
        import uvicorn

        from sso.web.metrics import prepare_for_workers as prepare_metrics

        s = settings()  # fail fast, with every problem listed, before forking workers
        s = follow_served_address(s, host, port)
        typer.echo(f"issuer {s.issuer_url}", err=True)
        prepare_metrics(s, workers)  # one metrics directory shared by all workers
        share_password_checks(s, workers)
        uvicorn.run(
            "sso.cli.serve:create_served_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=s.log_level.lower(),
            proxy_headers=False,
            access_log=False,
            timeout_graceful_shutdown=20,
        )

    @app.command()
    def bootstrap() -> None:
        """Create the signing keys and, if no admin exists, the first admin.

        The admin's password is SSO_ADMIN_PASSWORD, or generated and printed once."""
        from sso.accounts import policy
        from sso.accounts.passwords import PasswordHasher
        from sso.accounts.service import NewUser, create_user
        from sso.oidc.keys import KeyService
        from sso.storage import users as user_repo

        rt = runtime()
        with unit_of_work(rt) as session:
            KeyService(rt).ensure_keys(session)
        with unit_of_work(rt) as session:
            if user_repo.count_admins(session) > 0:
                typer.echo("admin exists; nothing to do")
                return
            configured = rt.settings.admin_password
            password = configured.get_secret_value() if configured else secrets.token_urlsafe(15)
            refusal = policy.check(
                password,
                kind="staff",
                identifiers=policy.identifiers_of(
                    rt.settings.admin_username, rt.settings.admin_email
                ),
            )
            if refusal is not None:
                fail(
                    f"SSO_ADMIN_PASSWORD is refused: {refusal.detail()} (the password policy "
                    f"for staff: {policy.MIN_LENGTH_STAFF} to {policy.MAX_LENGTH} characters, "
                    "not one of the most common passwords, not containing the admin's username "
                    "or email; unset it to have one generated)"
                )
            create_user(
                session,
                PasswordHasher(rt.settings),
                NewUser(
                    username=rt.settings.admin_username,
                    email=rt.settings.admin_email,
                    kind="staff",
                    display_name="Administrator",
                    email_verified=True,
                ),
                password,
                admin=True,
            )
        typer.echo(f"created first admin {rt.settings.admin_username!r}")
        if configured is None:
            typer.echo(f"admin password (shown once): {password}")
