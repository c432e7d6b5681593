"""clients/simpeg_sync as its own process against a running provider: it provisions staff from
a SIMPEG export, transfers and updates them when the export changes, and retires those who left
(their grants revoked at once), leaving people made in the console alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sso.db.models import Agency, Grant, User
from sso.storage import grants as grant_repo
from tests.e2e.conftest import LiveServer, live_server, live_settings  # noqa: F401
from tests.factories import create_agency, create_client
from tests.factories import create_user as create_person

APP = Path(__file__).resolve().parents[2] / "clients" / "simpeg_sync"
HEADER = "nip,nama,unit,email,telepon,jabatan\n"
BUDI = "198501012010011001,Budi Santoso,DISKOMINFO,budi@tangerangselatankota.go.id,,Pranata\n"
SITI = "199002142015032002,Siti Aminah,DINKES,siti@tangerangselatankota.go.id,0811222,Dokter\n"
ANDI = "197712312000121001,Andi Wijaya,DINKES,,,\n"


def _run(server: LiveServer, export: Path, client: tuple[str, str]) -> dict[str, Any]:
    env = {
        **os.environ,
        "SIMPEG_SYNC_CLIENT_ID": client[0],
        "SIMPEG_SYNC_CLIENT_SECRET": client[1],
        "PYTHONPATH": str(APP),
    }
    done = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "simpeg_sync",
            str(export),
            "--issuer",
            server.url,
        ],
        cwd=APP,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def test_provision_transfer_update_and_retire(
    live_server: LiveServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    runtime = live_server.runtime
    with runtime.sessions() as s:
        create_agency(s, "DISKOMINFO", "Dinas Komunikasi dan Informatika")
        create_agency(s, "DINKES", "Dinas Kesehatan")
        s.commit()
        client, secret = create_client(
            runtime,
            s,
            name="SIMPEG sync",
            redirect_uris=[],
            grant_types=["client_credentials"],
            scope="scim",
        )
        credentials = (client.client_id, secret or "")
        by_hand = create_person(
            runtime,
            s,
            username="rina",
            kind="staff",
            nip="198811052012022003",
            agency_code="DINKES",
        ).id
    export = tmp_path / "simpeg.csv"
    export.write_text(HEADER + BUDI + SITI)
    report = _run(live_server, export, credentials)
    assert sorted(report["created"]) == ["198501012010011001", "199002142015032002"]
    assert report["failed"] == [] and report["retired"] == []
    assert _run(live_server, export, credentials)["created"] == []  # nothing changes twice

    with runtime.sessions() as s:
        siti = s.scalars(select(User).where(User.nip == "199002142015032002")).one()
        assert siti.kind == "staff" and siti.display_name == "Siti Aminah"
        assert siti.agency is not None and siti.agency.code == "DINKES"
        assert siti.phone == "0811222" and siti.external_id == "simpeg:199002142015032002"
        app, _ = create_client(runtime, s, name="Absensi")
        grant = grant_repo.new_grant(client_id=app.client_id, user_id=siti.id, scope="openid")
        grant_repo.insert_grant(s, grant)
        s.commit()

    # Budi moves to DINKES and changes position; Siti retires; Andi joins.
    export.write_text(
        HEADER + BUDI.replace("DISKOMINFO", "DINKES").replace("Pranata", "Kasi") + ANDI
    )
    report = _run(live_server, export, credentials)
    assert report["created"] == ["197712312000121001"]
    assert report["transferred"] == ["198501012010011001"]
    assert report["updated"] == ["198501012010011001"]
    assert report["retired"] == ["199002142015032002"]
    with runtime.sessions() as s:
        dinkes = s.scalars(select(Agency).where(Agency.code == "DINKES")).one()
        budi = s.scalars(select(User).where(User.nip == "198501012010011001")).one()
        assert budi.agency_id == dinkes.id and budi.position == "Kasi"
        siti = s.scalars(select(User).where(User.nip == "199002142015032002")).one()
        assert siti.status == "disabled"
        revoked = s.get(Grant, grant.id)
        assert revoked is not None and revoked.revoked_at is not None
        rina = s.get(User, by_hand)
        assert rina is not None and rina.status == "active"  # not the sync's to retire
    # Siti comes back.
    export.write_text(
        HEADER + BUDI.replace("DISKOMINFO", "DINKES").replace("Pranata", "Kasi") + ANDI + SITI
    )
    assert _run(live_server, export, credentials)["reactivated"] == ["199002142015032002"]
