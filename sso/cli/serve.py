"""``sso serve`` (uvicorn) and ``sso bootstrap`` (first admin and signing keys)."""

from __future__ import annotations

import secrets

import typer

from sso.cli._common import runtime, settings, unit_of_work


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8000, "--port"),
        workers: int = typer.Option(1, "--workers", min=1),
    ) -> None:
        """Serve the provider (uvicorn; several workers share nothing but the database)."""
        import uvicorn

        s = settings()  # fail fast, with every problem listed, before forking workers
        uvicorn.run(
            "sso.app:create_app_from_environment",
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
        from sso.accounts.passwords import PasswordHasher
        from sso.accounts.service import NewUser, create_user
        from sso.oidc.keys import key_service
        from sso.storage import users as user_repo

        rt = runtime()
        with unit_of_work(rt) as session:
            key_service(rt).ensure_keys(session)
        with unit_of_work(rt) as session:
            if user_repo.count_admins(session) > 0:
                typer.echo("admin exists; nothing to do")
                return
            configured = rt.settings.admin_password
            password = configured.get_secret_value() if configured else secrets.token_urlsafe(15)
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
