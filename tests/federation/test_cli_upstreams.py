"""``sso upstreams``: create (secret from stdin, encrypted at rest), list, disable, errors."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.db.models import AuditEvent, UpstreamProvider
from sso.federation import registry
from sso.runtime import Runtime
from tests.test_cli import Run, count, sso  # noqa: F401  (the fixture)


def test_create_json_list_and_disable(sso: Run, db: Session, runtime: Runtime) -> None:  # noqa: F811
    r = sso(
        "upstreams",
        "create",
        "--slug",
        "inapas",
        "--name",
        "INApas",
        "--issuer",
        "https://inapas.example.id",
        "--client-id",
        "tangsel",
        "--client-secret-stdin",
        "--preset",
        "inapas",
        "--json",
        input="s3cret-value\n",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) == {"id", "slug", "redirect_uri"}
    assert out["slug"] == "inapas"
    assert out["redirect_uri"] == f"{runtime.settings.issuer_url}/upstreams/inapas/callback"
    db.expire_all()
    row = db.scalar(select(UpstreamProvider).where(UpstreamProvider.id == out["id"]))
    assert row is not None
    assert row.identity_assurance is True and "nik" in row.scope.split()
    assert "s3cret-value" not in row.client_secret_encrypted
    assert registry.client_secret(runtime.encryptor, row) == "s3cret-value"

    listed = json.loads(sso("upstreams", "list", "--json").stdout)
    assert [u["slug"] for u in listed] == ["inapas"]
    assert listed[0]["enabled"] is True and "s3cret" not in json.dumps(listed)

    r = sso("upstreams", "disable", "inapas")
    assert r.exit_code == 0, r.output
    assert json.loads(sso("upstreams", "list", "--json").stdout)[0]["enabled"] is False
    events = db.scalars(select(AuditEvent.event).order_by(AuditEvent.id)).all()
    assert "upstream.created" in events and "upstream.disabled" in events


@pytest.mark.parametrize(
    "args, message",
    [
        (("--slug", "Bad Slug"), "slug"),
        (("--slug", "g", "--accounts", "everyone"), "accounts"),
        (("--slug", "g", "--preset", "facebook"), "preset"),
        (("--slug", "g", "--issuer", "ftp://x"), "issuer"),
        (("--slug", "g", "--scope", "email profile"), "openid"),
        (("--slug", "g", "--preset", "google", "--issuer", "https://evil.example"), "Google"),
    ],
)
def test_create_refuses_bad_input(
    sso: Run,  # noqa: F811
    db: Session,
    args: tuple[str, ...],
    message: str,
) -> None:
    base = {
        "--slug": "g",
        "--name": "Google",
        "--issuer": "https://accounts.google.com",
        "--client-id": "id",
    }
    extra = dict(zip(args[::2], args[1::2], strict=True))
    argv = [x for k, v in {**base, **extra}.items() for x in (k, v)]
    r = sso("upstreams", "create", *argv, "--client-secret-stdin", input="x\n")
    assert r.exit_code != 0
    assert message in r.output
    assert count(db, UpstreamProvider) == 0


def test_create_needs_secret_on_stdin_and_unique_slug(sso: Run, db: Session) -> None:  # noqa: F811
    base = [
        "upstreams",
        "create",
        "--slug",
        "g",
        "--name",
        "Google",
        "--issuer",
        "https://accounts.google.com",
        "--client-id",
        "id",
        "--preset",
        "google",
    ]
    assert sso(*base).exit_code != 0
    assert sso(*base, "--client-secret-stdin", input="\n").exit_code != 0
    assert sso(*base, "--client-secret-stdin", input="x\n").exit_code == 0
    r = sso(*base, "--client-secret-stdin", input="x\n")
    assert r.exit_code != 0 and "exists" in r.output
    assert sso("upstreams", "disable", "nope").exit_code != 0
    assert count(db, UpstreamProvider) == 1
