"""The data portal: pages for people, and the JSON API for programs (bearer tokens)."""

from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from tangsel_rp.app import build_app
from tangsel_rp.db import transaction
from tangsel_rp.i18n import Catalogue
from tangsel_rp.user import RPUser
from tangsel_rp.web import NavItem, PageError, require_csrf

from data_portal import api, service
from data_portal.i18n import FLASH, MESSAGES
from data_portal.models import LICENCES, VISIBILITIES, Base
from data_portal.settings import PortalSettings

TEMPLATES = Path(__file__).resolve().parent / "templates"


def create_app(settings: PortalSettings) -> FastAPI:
    app, kit = build_app(
        settings,
        title="Portal Satu Data Tangsel",
        catalogue=Catalogue(MESSAGES),
        app_name_key="app.name",
        template_dir=TEMPLATES,
        metadata=[Base.metadata],
        nav=[
            NavItem("/", "nav.catalogue"),
            NavItem("/datasets/new", "nav.new_dataset", role=settings.publisher_role),
        ],
    )
    web = kit.web

    def remember(user: RPUser) -> None:
        with transaction(kit.sessions) as db:
            service.remember_person(db, user)

    kit.rp.on_login.append(remember)
    api.install(app, kit, settings)

    async def viewer(request: Request) -> service.Viewer:
        return service.viewer_of(await kit.optional_user(request), settings.publisher_role)

    async def publisher(request: Request) -> service.Viewer:
        await kit.current_user(request)
        found = await viewer(request)
        if not found.publisher:
            raise PageError("error.forbidden", 403)
        return found

    ViewerDep = Annotated[service.Viewer, Depends(viewer)]
    PublisherDep = Annotated[service.Viewer, Depends(publisher)]
    csrf = [Depends(require_csrf)]

    def visible(db, dataset_id: int, who: service.Viewer):  # type: ignore[no-untyped-def]
        try:
            return service.get_visible(db, dataset_id, who)
        except service.DatasetError:
            raise PageError("error.not_found", 404) from None

    @app.get("/")
    def catalogue(request: Request, who: ViewerDep, q: str = "") -> Response:
        with transaction(kit.sessions) as db:
            datasets = service.list_datasets(db, who, q)
        return web.render(request, "catalogue.html", {"datasets": datasets, "q": q, "viewer": who})

    @app.get("/datasets/new")
    def new_dataset(request: Request, who: PublisherDep) -> Response:
        return web.render(request, "dataset_form.html", _form_context(who, {}, None))

    @app.post("/datasets/new", dependencies=csrf)
    def create_dataset(
        request: Request,
        who: PublisherDep,
        title: Annotated[str, Form()] = "",
        description: Annotated[str, Form()] = "",
        licence: Annotated[str, Form()] = "",
        visibility: Annotated[str, Form()] = "",
    ) -> Response:
        values = {
            "title": title,
            "description": description,
            "licence": licence,
            "visibility": visibility,
        }
        try:
            with transaction(kit.sessions) as db:
                dataset = service.create_dataset(db, who, **values)
                dataset_id = dataset.id
        except service.DatasetError as exc:
            return web.render(
                request, "dataset_form.html", _form_context(who, values, exc.key), status_code=400
            )
        return RedirectResponse(f"/datasets/{dataset_id}?done=created", 303)

    @app.get("/datasets/{dataset_id}")
    def dataset_page(
        request: Request,
        dataset_id: int,
        who: ViewerDep,
        done: str | None = None,
        problem: str | None = None,
    ) -> Response:
        with transaction(kit.sessions) as db:
            dataset = visible(db, dataset_id, who)
            versions = service.version_summaries(db, dataset_id)
        return web.render(
            request,
            "dataset.html",
            {
                "dataset": dataset,
                "versions": versions,
                "can_publish": who.publishes_for(dataset),
                "flash": FLASH.get(done or ""),
                "problem": problem if problem and problem.startswith("upload.") else None,
            },
        )

    @app.get("/datasets/{dataset_id}/versions/{number}.csv")
    def download(dataset_id: int, number: int, who: ViewerDep) -> Response:
        with transaction(kit.sessions) as db:
            dataset = visible(db, dataset_id, who)
            found = service.version(db, dataset.id, number)
            if found is None:
                raise PageError("error.not_found", 404)
            return api.csv_response(found)

    @app.post("/datasets/{dataset_id}/versions", dependencies=csrf)
    def upload(dataset_id: int, who: PublisherDep, file: Annotated[UploadFile, File()]) -> Response:
        content = file.file.read(settings.max_upload_bytes + 1)
        try:
            with transaction(kit.sessions) as db:
                dataset = visible(db, dataset_id, who)
                service.add_version(
                    db,
                    dataset,
                    who,
                    file.filename or "data.csv",
                    content,
                    settings.max_upload_bytes,
                )
        except service.DatasetError as exc:
            if exc.key.startswith("error."):
                raise PageError(exc.key, 403 if exc.key == "error.forbidden" else 404) from None
            return RedirectResponse(f"/datasets/{dataset_id}?problem={exc.key}", 303)
        return RedirectResponse(f"/datasets/{dataset_id}?done=uploaded", 303)

    return app


def _form_context(
    who: service.Viewer, values: dict[str, str], problem: str | None
) -> dict[str, object]:
    return {
        "values": {"licence": "CC-BY-4.0", "visibility": "public", **values},
        "problem": problem,
        "licences": LICENCES,
        "visibilities": VISIBILITIES,
        "agency": who.agency_name or who.agency_code,
    }
