#!/usr/bin/env python3
"""Push a CSV file to Portal Satu Data from an agency's own system (machine to machine).

The system is an OAuth client of Tangsel SSO of its own, registered for the client
credentials grant with the portal's scopes::

    sso clients create --name "Sistem Dinkes" --scope "datasets:read datasets:write" --json

It gets an access token with that grant (RFC 6749 §4.4, ``client_secret_basic``) and calls
the portal's API with it. The portal must list the client in ``PORTAL_API_AUDIENCES`` (the
token's ``aud`` is the client itself) and map it to its agency in
``PORTAL_API_CLIENT_AGENCIES``. Uses only Authlib and httpx::

    PUSH_CLIENT_ID=… PUSH_CLIENT_SECRET=… python push_dataset.py \\
        --issuer http://127.0.0.1:8000 --portal http://127.0.0.1:8102 \\
        --title "Stok obat" --visibility restricted --file stok.csv
    python push_dataset.py … --dataset 3 --file stok-juli.csv     # a new version of dataset 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

SCOPE = "datasets:write datasets:read"


class PushFailed(Exception):
    pass


def fetch_token(issuer: str, client_id: str, client_secret: str, timeout: float = 10) -> str:
    discovery = httpx.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=timeout)
    discovery.raise_for_status()
    metadata = discovery.json()
    if metadata.get("issuer") != issuer.rstrip("/"):
        raise PushFailed(f"discovery names issuer {metadata.get('issuer')!r}, not {issuer!r}")
    with OAuth2Client(
        client_id,
        client_secret,
        scope=SCOPE,
        token_endpoint_auth_method="client_secret_basic",
        timeout=timeout,
    ) as client:
        token = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    return str(token["access_token"])


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        challenge = response.headers.get("www-authenticate", "")
        raise PushFailed(f"portal said {response.status_code}: {response.text} {challenge}".strip())
    return response.json()  # type: ignore[no-any-return]


def push(
    *,
    issuer: str,
    portal: str,
    client_id: str,
    client_secret: str,
    csv_path: Path,
    dataset_id: int | None = None,
    title: str | None = None,
    description: str = "",
    licence: str = "CC-BY-4.0",
    visibility: str = "public",
    timeout: float = 30,
) -> dict[str, Any]:
    """Create the dataset when ``dataset_id`` is None, then upload ``csv_path`` as its next
    version. Returns the portal's answer for the version."""
    token = fetch_token(issuer, client_id, client_secret)
    headers = {"Authorization": f"Bearer {token}"}
    base = portal.rstrip("/")
    with httpx.Client(timeout=timeout, headers=headers) as http:
        if dataset_id is None:
            if not title:
                raise PushFailed("give --dataset ID or --title to create one")
            made = _check(
                http.post(
                    f"{base}/api/datasets",
                    json={
                        "title": title,
                        "description": description,
                        "licence": licence,
                        "visibility": visibility,
                    },
                )
            )
            dataset_id = int(made["id"])
        return _check(
            http.post(
                f"{base}/api/datasets/{dataset_id}/versions",
                params={"filename": csv_path.name},
                content=csv_path.read_bytes(),
                headers={"Content-Type": "text/csv"},
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuer", default=os.environ.get("PUSH_ISSUER", "http://127.0.0.1:8000"))
    parser.add_argument("--portal", default=os.environ.get("PUSH_PORTAL", "http://127.0.0.1:8102"))
    parser.add_argument("--client-id", default=os.environ.get("PUSH_CLIENT_ID"))
    parser.add_argument("--client-secret", default=os.environ.get("PUSH_CLIENT_SECRET"))
    parser.add_argument("--file", type=Path, required=True, help="The CSV file to push.")
    parser.add_argument("--dataset", type=int, help="Add a version to this dataset.")
    parser.add_argument("--title", help="Create a dataset with this title first.")
    parser.add_argument("--description", default="")
    parser.add_argument("--licence", default="CC-BY-4.0")
    parser.add_argument("--visibility", choices=("public", "restricted"), default="public")
    args = parser.parse_args(argv)
    if not args.client_id or not args.client_secret:
        parser.error("set PUSH_CLIENT_ID and PUSH_CLIENT_SECRET (or --client-id/--client-secret)")
    try:
        result = push(
            issuer=args.issuer,
            portal=args.portal,
            client_id=args.client_id,
            client_secret=args.client_secret,
            csv_path=args.file,
            dataset_id=args.dataset,
            title=args.title,
            description=args.description,
            licence=args.licence,
            visibility=args.visibility,
        )
    except (PushFailed, OAuthError, httpx.HTTPError, OSError) as exc:
        print(f"push_dataset: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
