"""Sync the city's staff register (SIMPEG's export, CSV or JSON) into Tangsel SSO over SCIM 2.0.

For each staff member in the export (keyed by NIP):
- not in the provider yet: created (``POST /Users``);
- in another agency than the export says: transferred (``PATCH`` of the enterprise
  extension's ``department``, the mutasi);
- name, email, phone or position changed: updated (``PATCH replace``);
- retired earlier and back in the export: made active again.
Every person this sync provisioned (``externalId`` starting with ``simpeg:``) who is no longer
in the export is retired (``active: false``): the provider ends their sessions and revokes
their tokens at once. People made by hand in the console are never touched.

It talks to the provider only over HTTP: an access token from ``/token`` (client credentials,
scope ``scim``), then ``/scim/v2``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PREFIX = "simpeg:"
PAGE = 500


@dataclass(frozen=True)
class Staff:
    """One row of the export (SIMPEG's column names)."""

    nip: str
    nama: str
    unit: str
    email: str = ""
    telepon: str = ""
    jabatan: str = ""

    @property
    def username(self) -> str:
        return self.nip


def read_export(path: Path) -> list[Staff]:
    """The export as CSV (a header row: nip, nama, unit, email, telepon, jabatan) or as JSON
    (a list of objects with those keys)."""
    if path.suffix.lower() == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
    else:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
    staff = []
    for row in rows:
        values = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        staff.append(
            Staff(
                nip=values["nip"],
                nama=values["nama"],
                unit=values["unit"].upper(),
                email=values.get("email", ""),
                telepon=values.get("telepon", ""),
                jabatan=values.get("jabatan", ""),
            )
        )
    return staff


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    transferred: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)


class Provider:
    def __init__(
        self, issuer: str, client_id: str, client_secret: str, *, timeout: float = 30.0
    ) -> None:
        self.base = issuer.rstrip("/")
        self.http = httpx.Client(timeout=timeout)
        r = self.http.post(
            f"{self.base}/token",
            data={"grant_type": "client_credentials", "scope": "scim"},
            auth=(client_id, client_secret),
        )
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        self.http.headers["Content-Type"] = "application/scim+json"

    def synced_users(self) -> dict[str, dict[str, Any]]:
        """Everyone this sync provisioned, by NIP (the ``externalId`` after the prefix)."""
        found: dict[str, dict[str, Any]] = {}
        start = 1
        while True:
            r = self.http.get(
                f"{self.base}/scim/v2/Users",
                params={
                    "filter": f'externalId sw "{PREFIX}"',
                    "startIndex": start,
                    "count": PAGE,
                    "sortBy": "userName",
                },
            )
            r.raise_for_status()
            page = r.json()
            for user in page["Resources"]:
                found[user["externalId"].removeprefix(PREFIX)] = user
            start += len(page["Resources"])
            if not page["Resources"] or start > page["totalResults"]:
                return found

    def create(self, person: Staff) -> httpx.Response:
        return self.http.post(f"{self.base}/scim/v2/Users", json=_resource(person))

    def patch(self, user: dict[str, Any], *operations: dict[str, Any]) -> httpx.Response:
        # If-Match: a change made in the console since we read the person is not overwritten.
        return self.http.patch(
            f"{self.base}/scim/v2/Users/{user['id']}",
            json={"schemas": [PATCH], "Operations": list(operations)},
            headers={"If-Match": user["meta"]["version"]},
        )


def _resource(person: Staff) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE],
        "userName": person.username,
        "externalId": PREFIX + person.nip,
        "displayName": person.nama,
        "active": True,
        ENTERPRISE: {"employeeNumber": person.nip, "department": person.unit},
    }
    if person.email:
        body["emails"] = [{"value": person.email, "type": "work"}]
    if person.telepon:
        body["phoneNumbers"] = [{"value": person.telepon, "type": "work"}]
    if person.jabatan:
        body["title"] = person.jabatan
    return body


def _changes(person: Staff, user: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace operations for what differs, besides the agency and the state."""
    wanted = {
        "displayName": person.nama,
        "title": person.jabatan or None,
        "emails": [{"value": person.email, "type": "work"}] if person.email else None,
        "phoneNumbers": ([{"value": person.telepon, "type": "work"}] if person.telepon else None),
    }
    ops = []
    for path, value in wanted.items():
        have = user.get(path)
        if path == "emails" and have:
            have = [{"value": e["value"], "type": "work"} for e in have]
        if have != value:
            ops.append(
                {"op": "remove", "path": path}
                if value is None
                else {"op": "replace", "path": path, "value": value}
            )
    return ops


def sync(provider: Provider, export: list[Staff], *, dry_run: bool = False) -> Report:
    report = Report()
    existing = provider.synced_users()

    def done(kind: list[str], nip: str, response: httpx.Response | None) -> None:
        if response is None or response.is_success:
            kind.append(nip)
        else:
            report.failed.append(
                {
                    "nip": nip,
                    "status": str(response.status_code),
                    "detail": response.json().get("detail", ""),
                }
            )

    for person in export:
        user = existing.get(person.nip)
        if user is None:
            done(report.created, person.nip, None if dry_run else provider.create(person))
            continue
        ops: list[dict[str, Any]] = []
        lists: list[list[str]] = []
        if user.get(ENTERPRISE, {}).get("department") != person.unit:
            ops.append({"op": "replace", "path": f"{ENTERPRISE}:department", "value": person.unit})
            lists.append(report.transferred)
        if not user.get("active", True):
            ops.append({"op": "replace", "path": "active", "value": True})
            lists.append(report.reactivated)
        changes = _changes(person, user)
        if changes:
            ops.extend(changes)
            lists.append(report.updated)
        if ops:
            response = None if dry_run else provider.patch(user, *ops)
            for kind in lists:
                done(kind, person.nip, response)
    listed = {p.nip for p in export}
    for nip, user in sorted(existing.items()):
        if nip not in listed and user.get("active", True):
            response = (
                None
                if dry_run
                else provider.patch(user, {"op": "replace", "path": "active", "value": False})
            )
            done(report.retired, nip, response)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="simpeg_sync", description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="SIMPEG export, .csv or .json")
    parser.add_argument(
        "--issuer", default=os.environ.get("SIMPEG_SYNC_ISSUER", "http://127.0.0.1:8000")
    )
    parser.add_argument("--dry-run", action="store_true", help="Report, change nothing.")
    args = parser.parse_args(argv)
    client_id = os.environ.get("SIMPEG_SYNC_CLIENT_ID")
    client_secret = os.environ.get("SIMPEG_SYNC_CLIENT_SECRET")
    if not client_id or not client_secret:
        print("set SIMPEG_SYNC_CLIENT_ID and SIMPEG_SYNC_CLIENT_SECRET", file=sys.stderr)
        return 2
    provider = Provider(args.issuer, client_id, client_secret)
    report = sync(provider, read_export(args.export), dry_run=args.dry_run)
    print(json.dumps(report.__dict__, indent=2))
    return 1 if report.failed else 0
