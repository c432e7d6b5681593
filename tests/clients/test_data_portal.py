"""Portal Satu Data: who sees which dataset, publishing, and the API's bearer-token checks
(expired, foreign audience, wrong scope, badly signed → 401/403), key rotation, and the
machine-to-machine push script."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.clients.conftest import HTTP, RP, Provider, browser_client, csrf_from, login, start_rp


@dataclass
class Portal:
    rp: RP
    provider: Provider
    agency_system: tuple[str, str]  # m2m client allowed to publish for DINKES
    reader_only: tuple[str, str]  # m2m client with datasets:read only (listed audience)
    foreign: tuple[str, str]  # m2m client with the right scopes but not a listed audience
    restricted_id: int
    public_id: int


def _dataset(rp: RP, title: str, agency: str, visibility: str, csv_text: str) -> int:
    from data_portal import service
    from tangsel_rp.db import transaction

    viewer = service.Viewer(agency, agency, publisher=True, id="seed")
    with transaction(rp.toolkit.sessions) as db:
        dataset = service.create_dataset(
            db, viewer, title=title, description="", licence="CC-BY-4.0", visibility=visibility
        )
        service.add_version(db, dataset, viewer, "data.csv", csv_text.encode(), 10_000)
        return dataset.id


@pytest.fixture(scope="module")
def portal(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    scope = "datasets:read datasets:write"
    agency_system = provider.register_machine("Sistem Dinkes", scope)
    reader_only = provider.register_machine("Dasbor Wali Kota", "datasets:read")
    foreign = provider.register_machine("Aplikasi lain", scope)
    rp = start_rp(
        provider,
        "portal",
        tmp_path_factory.mktemp("portal"),
        api_audiences=f"{agency_system[0]},{reader_only[0]}",
        api_client_agencies={agency_system[0]: "DINKES"},
    )
    provider.agency("DINKES", "Dinas Kesehatan")
    provider.agency("DISKOMINFO", "Dinas Komunikasi dan Informatika")
    provider.user("budi", kind="staff", agency="DINKES", nip="198001012005011001")
    provider.user("ani", kind="staff", agency="DISKOMINFO", nip="198202022006042002")
    provider.user("warga")
    provider.grant_app_role(rp.client_id, "publisher", "budi")
    restricted = _dataset(rp, "Stok obat", "DINKES", "restricted", "obat,stok\nParacetamol,10\n")
    public = _dataset(rp, "Penduduk", "DISDUKCAPIL", "public", "kecamatan,jumlah\nSerpong,1\n")
    yield Portal(rp, provider, agency_system, reader_only, foreign, restricted, public)
    rp.server.stop()
    rp.toolkit.engine.dispose()


def machine_token(provider: Provider, client: tuple[str, str], scope: str) -> str:
    response = HTTP.post(
        f"{provider.url}/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=client,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def api(portal: Portal, path: str, token: str | None, method: str = "GET", **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))
    return HTTP.request(method, f"{portal.rp.url}{path}", headers=headers, **kw)


def refused(response: httpx.Response, status: int, error: str | None) -> None:
    assert response.status_code == status, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="Portal Satu Data"')
    if error:
        assert f'error="{error}"' in challenge and response.json()["error"] == error


# -- pages ---------------------------------------------------------------------------------


def test_restricted_datasets_only_for_the_owning_agency(portal: Portal) -> None:
    url = portal.rp.url
    with browser_client() as anonymous:
        page = anonymous.get(f"{url}/")
        assert "Penduduk" in page.text and "Stok obat" not in page.text
        assert anonymous.get(f"{url}/datasets/{portal.restricted_id}").status_code == 404
        assert (
            anonymous.get(f"{url}/datasets/{portal.restricted_id}/versions/1.csv").status_code
            == 404
        )
    with browser_client() as other_agency:
        login(other_agency, portal.rp, "ani")
        assert "Stok obat" not in other_agency.get(f"{url}/").text
        assert other_agency.get(f"{url}/datasets/{portal.restricted_id}").status_code == 404
    with browser_client() as owner:
        login(owner, portal.rp, "budi")
        assert "Stok obat" in owner.get(f"{url}/").text
        download = owner.get(f"{url}/datasets/{portal.restricted_id}/versions/1.csv")
        assert download.status_code == 200 and download.text.startswith("obat,stok")


def test_publisher_creates_a_dataset_and_uploads_versions(portal: Portal) -> None:
    url = portal.rp.url
    with browser_client() as citizen:
        login(citizen, portal.rp, "warga")
        assert citizen.get(f"{url}/datasets/new").status_code == 403
        page = citizen.get(f"{url}/datasets/{portal.public_id}")
        assert 'id="upload-form"' not in page.text
    with browser_client() as http:
        form = login(http, portal.rp, "budi", "/datasets/new")
        assert form.url.path == "/datasets/new" and "Dinas Kesehatan" in form.text
        made = http.post(
            f"{url}/datasets/new",
            data={
                "csrf_token": csrf_from(form.text),
                "title": "Kunjungan Puskesmas",
                "description": "Harian",
                "licence": "CC-BY-4.0",
                "visibility": "public",
            },
        )
        assert 'id="upload-form"' in made.text and 'id="flash"' in made.text
        upload_url = str(made.url).split("?")[0] + "/versions"
        token = csrf_from(made.text)
        bad = http.post(
            upload_url,
            data={"csrf_token": token},
            files={"file": ("x.csv", b"a,b\n1,2,3\n", "text/csv")},
        )
        assert 'id="problem"' in bad.text and "jumlah kolom" in bad.text
        good = http.post(
            upload_url,
            data={"csrf_token": token},
            files={"file": ("kunjungan.csv", b"puskesmas,jumlah\nPamulang,42\n", "text/csv")},
        )
        assert 'id="version-1"' in good.text
        # The portal never lets DINKES publish into another agency's dataset.
        other = http.post(
            f"{url}/datasets/{portal.public_id}/versions",
            data={"csrf_token": token},
            files={"file": ("x.csv", b"a\n1\n", "text/csv")},
        )
        assert other.status_code == 403


# -- API: refusals ------------------------------------------------------------------------


def test_api_without_a_token_gets_a_bare_challenge(portal: Portal) -> None:
    response = api(portal, "/api/datasets", None)
    refused(response, 401, None)
    assert "error=" not in response.headers["www-authenticate"]
    refused(api(portal, "/api/datasets", None, headers={"Authorization": "Basic eDp5"}), 401, None)


def test_api_accepts_a_good_token(portal: Portal) -> None:
    token = machine_token(portal.provider, portal.reader_only, "datasets:read")
    listed = api(portal, "/api/datasets", token)
    assert listed.status_code == 200
    titles = {d["title"] for d in listed.json()["datasets"]}
    assert "Penduduk" in titles and "Stok obat" not in titles  # not the reader's agency
    data = api(portal, f"/api/datasets/{portal.public_id}/data", token)
    assert data.status_code == 200 and data.text == "kecamatan,jumlah\nSerpong,1\n"
    as_json = api(portal, f"/api/datasets/{portal.public_id}/data?format=json", token).json()
    assert as_json["columns"] == ["kecamatan", "jumlah"] and as_json["rows"] == [["Serpong", "1"]]
    assert api(portal, f"/api/datasets/{portal.restricted_id}/data", token).status_code == 404


def test_api_refuses_an_expired_token(portal: Portal) -> None:
    now = int(time.time())
    token = portal.provider.sign(
        {
            "iss": portal.provider.url,
            "sub": portal.reader_only[0],
            "aud": portal.reader_only[0],
            "client_id": portal.reader_only[0],
            "scope": "datasets:read",
            "jti": "x",
            "iat": now - 7200,
            "exp": now - 3600,
        },
        typ="at+jwt",
    )
    response = api(portal, "/api/datasets", token)
    refused(response, 401, "invalid_token")
    assert "expired" in response.json()["error_description"]


def test_api_refuses_a_token_for_another_audience(portal: Portal) -> None:
    token = machine_token(portal.provider, portal.foreign, "datasets:read")
    refused(api(portal, "/api/datasets", token), 401, "invalid_token")


def test_api_refuses_a_token_without_the_scope(portal: Portal) -> None:
    reader = machine_token(portal.provider, portal.reader_only, "datasets:read")
    response = api(
        portal,
        "/api/datasets",
        reader,
        "POST",
        json={"title": "Tidak boleh", "visibility": "public"},
    )
    refused(response, 403, "insufficient_scope")
    assert 'scope="datasets:write"' in response.headers["www-authenticate"]
    # A person's token from logging in at the portal carries no datasets scope at all.
    with browser_client() as http:
        login(http, portal.rp, "ani")
    from tangsel_rp.db import transaction
    from tangsel_rp.sessions import SessionRecord

    with transaction(portal.rp.toolkit.sessions) as db:
        person_token = (
            db.query(SessionRecord.access_token)
            .filter(SessionRecord.sub == portal.provider.user_id("ani"))
            .first()[0]
        )
    refused(api(portal, "/api/datasets", person_token), 403, "insufficient_scope")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_api_refuses_badly_signed_tokens(portal: Portal) -> None:
    good = machine_token(portal.provider, portal.reader_only, "datasets:read")
    header = json.loads(base64.urlsafe_b64decode(good.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(good.split(".")[1] + "=="))
    # Signed by someone else's key that claims the provider's kid.
    impostor = RSAKey.generate_key(2048, parameters={"kid": header["kid"]})
    forged = jwt.encode(header, claims, impostor)
    # The provider's signature over other claims (a wider scope smuggled in).
    tampered = ".".join(
        [good.split(".")[0], _b64({**claims, "scope": "datasets:write"}), good.split(".")[2]]
    )
    unsigned = ".".join([_b64({"alg": "none", "typ": "at+jwt"}), _b64(claims), ""])
    # The public key used as an HMAC secret (the classic algorithm confusion).
    hs256 = ".".join([_b64({**header, "alg": "HS256"}), _b64(claims), "c2ln"])
    for token in (forged, tampered, unsigned, hs256, "not-a-jwt", good[:-4] + "AAAA"):
        refused(api(portal, "/api/datasets", token), 401, "invalid_token")


def test_api_refuses_id_tokens_and_logout_tokens(portal: Portal) -> None:
    now = int(time.time())
    claims = {
        "iss": portal.provider.url,
        "sub": portal.reader_only[0],
        "aud": portal.reader_only[0],
        "client_id": portal.reader_only[0],
        "scope": "datasets:read",
        "iat": now,
        "exp": now + 60,
    }
    for typ in (None, "logout+jwt"):
        token = portal.provider.sign(claims, typ=typ)
        response = api(portal, "/api/datasets", token)
        refused(response, 401, "invalid_token")
        assert "typ" in response.json()["error_description"]
    wrong_issuer = portal.provider.sign({**claims, "iss": "https://evil.example"}, typ="at+jwt")
    refused(api(portal, "/api/datasets", wrong_issuer), 401, "invalid_token")


def test_api_follows_key_rotation(portal: Portal) -> None:

    reader = portal.reader_only
    assert api(portal, "/api/datasets", machine_token(portal.provider, reader, "datasets:read"))
    jwks = portal.rp.toolkit.rp.jwks
    known = set(jwks._kids)
    # Twice: the next key was published (and cached by the portal) before it signs.
    portal.provider.cli("keys", "rotate", "--alg", "RS256")
    portal.provider.cli("keys", "rotate", "--alg", "RS256")
    portal.provider.runtime.keys.cache.invalidate()  # the server sees it at once
    token = machine_token(portal.provider, reader, "datasets:read")
    kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
    assert kid not in known
    assert api(portal, "/api/datasets", token).status_code == 200
    assert kid in jwks._kids


# -- machine to machine ------------------------------------------------------------------


def test_agency_system_pushes_a_dataset_with_client_credentials(
    portal: Portal, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import push_dataset

    csv_file = tmp_path / "stok-juli.csv"
    csv_file.write_text("obat,stok\nAmoxicillin,300\nParacetamol,1200\n", encoding="utf-8")
    client_id, secret = portal.agency_system
    common = [
        "--issuer",
        portal.provider.url,
        "--portal",
        portal.rp.url,
        "--client-id",
        client_id,
        "--client-secret",
        secret,
        "--file",
        str(csv_file),
    ]
    assert (
        push_dataset.main([*common, "--title", "Stok obat Juli", "--visibility", "restricted"]) == 0
    )
    first = json.loads(capsys.readouterr().out)
    assert first["version"] == 1 and first["rows"] == 2
    assert push_dataset.main([*common, "--dataset", str(first["dataset"])]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 2
    token = machine_token(portal.provider, portal.agency_system, "datasets:read")
    meta = api(portal, f"/api/datasets/{first['dataset']}", token).json()
    assert meta["agency"]["code"] == "DINKES" and meta["visibility"] == "restricted"
    assert [v["number"] for v in meta["versions"]] == [2, 1]
    # Not mapped to an agency: may read public data, may not publish.
    assert (
        push_dataset.main(
            [
                *common[:5],
                portal.foreign[0],
                "--client-secret",
                portal.foreign[1],
                "--file",
                str(csv_file),
                "--title",
                "x",
            ]
        )
        == 1
    )
    assert "401" in capsys.readouterr().err
    # A bad secret never gets a token.
    assert (
        push_dataset.main(
            [*common[:6], "--client-secret", "wrong", "--file", str(csv_file), "--title", "x"]
        )
        == 1
    )
