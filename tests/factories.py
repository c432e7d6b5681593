"""Plain factory functions for tests (wrapped by thin fixtures where useful)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import NewUser
from sso.accounts.service import create_user as _create_user
from sso.db.models import Agency, Client, User
from sso.oauth.clients import ClientSpec, register
from sso.runtime import Runtime
from sso.storage import agencies as agency_repo
from sso.web.app_runtime import AppRuntime

PASSWORD = "correct horse battery staple"


def create_agency(
    session: Session, code: str = "DISKOMINFO", name: str = "Dinas Komunikasi dan Informatika"
) -> Agency:
    existing = agency_repo.get_by_code(session, code)
    if existing:
        return existing
    return agency_repo.add(session, Agency(code=code, name=name))


def create_user(
    runtime: Runtime,
    session: Session,
    *,
    username: str = "siti",
    email: str | None = None,
    kind: str = "citizen",
    password: str = PASSWORD,
    **fields: Any,
) -> User:
    # The application's hasher when there is one (made once), else one for this call.
    hasher = (
        runtime.password_hasher
        if isinstance(runtime, AppRuntime)
        else PasswordHasher(runtime.settings)
    )
    if kind == "staff" and "agency_code" not in fields:
        fields["agency_code"] = create_agency(session).code
    user = _create_user(
        session,
        hasher,
        NewUser(
            username=username,
            email=email or f"{username}@example.id",
            kind=kind,
            email_verified=True,
            **fields,
        ),
        password,
    )
    session.commit()
    return user


def create_client(
    runtime: Runtime,
    session: Session,
    *,
    name: str = "Portal Satu Data",
    redirect_uris: list[str] | None = None,
    scope: str = "openid profile email phone opd roles offline_access",
    **spec: Any,
) -> tuple[Client, str | None]:
    registered = register(
        session,
        runtime.secret_key,
        ClientSpec(
            name=name,
            redirect_uris=redirect_uris
            if redirect_uris is not None
            else ["https://rp.example.id/callback"],
            scope=scope,
            **spec,
        ),
    )
    session.commit()
    return registered.client, registered.client_secret


def enrol_totp(runtime: Runtime, session: Session, user: User) -> str:
    """Give ``user`` a confirmed TOTP credential; returns its base32 secret (answer with
    ``pyotp.TOTP(secret).now()`` or :func:`tests.oidc.flow.totp_code`)."""
    import pyotp

    from sso.core.clock import now
    from sso.db.models import TotpCredential

    secret = pyotp.random_base32(length=32)
    session.merge(
        TotpCredential(
            user_id=user.id,
            secret_encrypted=runtime.encryptor.encrypt(secret),
            confirmed_at=now(),
        )
    )
    session.commit()
    return secret
