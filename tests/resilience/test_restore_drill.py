"""The restore drill of docs/operations.md, performed: dump the provider's database with
`pg_dump -Fc`, restore it into a new database with `pg_restore`, start the provider on it (the
same SSO_SECRET_KEY and SSO_KEY_ENCRYPTION_KEY), log in with the same password, and check the
ID token against the restored provider's JWKS: the same signing key (kid) as before."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from tests.resilience.conftest import ISSUER, PASSWORD, City, Launch
from tests.resilience.people import Browser, kid_of, verify_id_token
from tests.resilience.procs import Provider, database, sql


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_backup_and_restore_drill(
    city: City, launch: Launch, admin_url: str, tmp_path: Path
) -> None:
    rp = city.portal
    before: Provider = launch("before-backup")
    tokens = Browser(before.url).login(rp, "dewi", PASSWORD)
    claims = verify_id_token(before.url, ISSUER, rp, tokens["id_token"], tokens["nonce"])
    kid = kid_of(tokens["id_token"])
    people = sql(city.database_url, "SELECT count(*) FROM users")[0][0]

    dump = tmp_path / "sso.dump"
    subprocess.run(  # noqa: S603
        [  # noqa: S607
            "pg_dump",
            "-Fc",
            "--no-owner",
            "-f",
            str(dump),
            plain(city.database_url),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert dump.stat().st_size > 0

    dbname = psycopg.conninfo.conninfo_to_dict(plain(city.database_url))["dbname"]
    assert isinstance(dbname, str)
    name = dbname + "_restored"
    with database(admin_url, str(name)) as restored_url:
        subprocess.run(  # noqa: S603
            [  # noqa: S607
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                "-d",
                plain(restored_url),
                str(dump),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert sql(restored_url, "SELECT count(*) FROM users")[0][0] == people

        city.env["SSO_DATABASE_URL"] = restored_url  # the same secrets, the restored database
        try:
            after: Provider = launch("after-restore")
        finally:
            city.env["SSO_DATABASE_URL"] = city.database_url
        fresh = Browser(after.url).login(rp, "dewi", PASSWORD)
        again = verify_id_token(after.url, ISSUER, rp, fresh["id_token"], fresh["nonce"])
        assert kid_of(fresh["id_token"]) == kid
        assert again["sub"] == claims["sub"]
        # A token issued before the backup still verifies against the restored JWKS.
        verify_id_token(after.url, ISSUER, rp, tokens["id_token"], tokens["nonce"])
        after.stop()
