"""The JSON API: ``/api/datasets`` and ``/api/datasets/{id}/data`` (scope ``datasets:read``),
creating datasets and pushing CSV versions (scope ``datasets:write``).

Access tokens are the provider's JWTs, checked here without calling the provider
(``tangsel_rp.bearer``): a bad, expired, foreign or badly signed token gets 401 with
``WWW-Authenticate: Bearer … error="invalid_token"``; a good token without the scope gets
403 ``insufficient_scope`` (RFC 6750 §3.1).

Who the caller is: a person's token (``sub`` is the person) acts with the agency and roles the
portal saw at that person's last login here; a machine token (client credentials: ``sub`` is
the client) acts for the agency that ``PORTAL_API_CLIENT_AGENCIES`` gives its client_id.
"""

import csv
import io
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from tangsel_rp.app import Toolkit
from tangsel_rp.bearer import AccessToken, AccessTokenValidator, BearerError
from tangsel_rp.db import transaction

from data_portal import service
from data_portal.models import Dataset, DatasetVersion, Person
from data_portal.settings import PortalSettings

REALM = "Portal Satu Data"
READ, WRITE = "datasets:read", "datasets:write"


class NewDataset(BaseModel):
    title: str = Field(max_length=200)
    description: str = Field("", max_length=5000)
    licence: str = "CC-BY-4.0"
    visibility: str = "public"


def csv_response(version: DatasetVersion) -> Response:
    return Response(
        version.content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{version.filename}"',
            "Cache-Control": "no-store",
        },
    )


def _dataset_json(dataset: Dataset, latest: DatasetVersion | None) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "title": dataset.title,
        "description": dataset.description,
        "licence": dataset.licence,
        "agency": {"code": dataset.agency_code, "name": dataset.agency_name},
        "visibility": dataset.visibility,
        "updated_at": dataset.updated_at.isoformat(timespec="seconds") + "Z",
        "latest_version": latest.number if latest else None,
        "data_url": f"/api/datasets/{dataset.id}/data",
    }


def install(app: FastAPI, kit: Toolkit, settings: PortalSettings) -> None:
    validator = AccessTokenValidator(
        kit.rp.jwks,
        settings.oidc_issuer,
        settings.accepted_audiences,
        leeway=settings.clock_skew,
    )

    @app.exception_handler(BearerError)
    async def _refused(request: Request, exc: BearerError) -> Response:
        return JSONResponse(
            exc.body(),
            status_code=exc.status,
            headers={"WWW-Authenticate": exc.challenge(REALM), "Cache-Control": "no-store"},
        )

    def bearer(scope: str) -> Any:
        def check(authorization: Annotated[str | None, Header()] = None) -> AccessToken:
            return validator.authenticate(authorization, scope)

        return Depends(check)

    def viewer_of(token: AccessToken) -> service.Viewer:
        if token.is_machine:
            agency = settings.api_client_agencies.get(token.client_id)
            return service.Viewer(
                agency_code=agency,
                agency_name=agency,
                publisher=agency is not None,
                id=f"client:{token.client_id}",
            )
        with transaction(kit.sessions) as db:
            person = db.get(Person, token.sub)
            if person is None:
                return service.Viewer(id=token.sub)
            return service.Viewer(
                agency_code=person.agency_code,
                agency_name=person.agency_name,
                publisher=settings.publisher_role in (person.roles or [])
                and person.agency_code is not None,
                id=token.sub,
            )

    Reader = Annotated[AccessToken, bearer(READ)]
    Writer = Annotated[AccessToken, bearer(WRITE)]

    def found(db: Any, dataset_id: int, who: service.Viewer) -> Dataset:
        try:
            return service.get_visible(db, dataset_id, who)
        except service.DatasetError:
            raise api_error(404, "No such dataset.") from None

    @app.get("/api/datasets")
    def list_datasets(token: Reader, q: str = "") -> dict[str, Any]:
        who = viewer_of(token)
        with transaction(kit.sessions) as db:
            datasets = service.list_datasets(db, who, q)
            items = [_dataset_json(d, service.latest_version(db, d.id)) for d in datasets]
        return {"datasets": items}

    @app.get("/api/datasets/{dataset_id}")
    def get_dataset(dataset_id: int, token: Reader) -> dict[str, Any]:
        who = viewer_of(token)
        with transaction(kit.sessions) as db:
            dataset = found(db, dataset_id, who)
            versions = service.version_summaries(db, dataset_id)
            body = _dataset_json(dataset, versions[0] if versions else None)
            body["versions"] = [
                {
                    "number": v.number,
                    "filename": v.filename,
                    "rows": v.row_count,
                    "columns": v.columns,
                    "size": v.size,
                    "uploaded_at": v.uploaded_at.isoformat(timespec="seconds") + "Z",
                }
                for v in versions
            ]
        return body

    @app.get("/api/datasets/{dataset_id}/data")
    def data(
        dataset_id: int,
        token: Reader,
        version: int | None = None,
        format: str = "csv",  # noqa: A002
    ) -> Response:
        who = viewer_of(token)
        with transaction(kit.sessions) as db:
            dataset = found(db, dataset_id, who)
            chosen = (
                service.version(db, dataset.id, version)
                if version is not None
                else service.latest_version(db, dataset.id)
            )
            if chosen is None:
                raise api_error(404, "The dataset has no such version.")
            if format == "json":
                rows = list(csv.reader(io.StringIO(chosen.content.decode("utf-8-sig"))))
                return JSONResponse(
                    {
                        "version": chosen.number,
                        "columns": rows[0] if rows else [],
                        "rows": [r for r in rows[1:] if r],
                    },
                    headers={"Cache-Control": "no-store"},
                )
            return csv_response(chosen)

    @app.post("/api/datasets", status_code=201)
    def create_dataset(body: NewDataset, token: Writer) -> dict[str, Any]:
        who = viewer_of(token)
        try:
            with transaction(kit.sessions) as db:
                dataset = service.create_dataset(db, who, **body.model_dump())
                return _dataset_json(dataset, None)
        except service.DatasetError as exc:
            raise _refusal(exc) from None

    @app.post("/api/datasets/{dataset_id}/versions", status_code=201)
    async def push_version(
        request: Request, dataset_id: int, token: Writer, filename: str = "data.csv"
    ) -> dict[str, Any]:
        content = b""
        async for chunk in request.stream():
            content += chunk
            if len(content) > settings.max_upload_bytes:
                break
        return await run_in_threadpool(_push, token, dataset_id, filename, content)

    def _push(token: AccessToken, dataset_id: int, filename: str, content: bytes) -> dict[str, Any]:
        who = viewer_of(token)
        try:
            with transaction(kit.sessions) as db:
                dataset = found(db, dataset_id, who)
                made = service.add_version(
                    db, dataset, who, filename, content, settings.max_upload_bytes
                )
                return {
                    "dataset": dataset.id,
                    "version": made.number,
                    "rows": made.row_count,
                    "columns": made.columns,
                }
        except service.DatasetError as exc:
            raise _refusal(exc) from None


def api_error(status: int, description: str) -> HTTPException:
    return HTTPException(status, description)


def _refusal(exc: service.DatasetError) -> HTTPException:
    if exc.key == "error.forbidden":
        return api_error(403, "This caller may not publish for that agency.")
    if exc.key == "error.not_found":
        return api_error(404, "No such dataset.")
    return api_error(422, exc.key)
