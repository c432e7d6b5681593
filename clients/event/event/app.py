"""The event site: ``create_app(settings)`` builds it (``python -m event`` serves it)."""

from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from tangsel_rp.app import build_app
from tangsel_rp.db import transaction
from tangsel_rp.i18n import Catalogue
from tangsel_rp.user import RPUser
from tangsel_rp.web import NavItem, PageError, require_csrf

from event import service
from event.i18n import FLASH, MESSAGES
from event.models import KINDS, Base
from event.settings import EventSettings

TEMPLATES = Path(__file__).resolve().parent / "templates"


def event_form(
    title: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    venue: Annotated[str, Form()] = "",
    starts_at: Annotated[str, Form()] = "",
    capacity: Annotated[str, Form()] = "",
    team_size: Annotated[str, Form()] = "",
) -> dict[str, str]:
    """The fields of the event form (create and edit post the same form)."""
    return dict(
        title=title,
        kind=kind,
        description=description,
        venue=venue,
        starts_at=starts_at,
        capacity=capacity,
        team_size=team_size,
    )


EventFormValues = Annotated[dict[str, str], Depends(event_form)]


def create_app(settings: EventSettings) -> FastAPI:
    app, kit = build_app(
        settings,
        title="Festival TI & E-Sport Tangsel",
        catalogue=Catalogue(MESSAGES),
        app_name_key="app.name",
        template_dir=TEMPLATES,
        metadata=[Base.metadata],
        nav=[
            NavItem("/", "nav.events"),
            NavItem("/me", "nav.mine", login=True),
            NavItem("/manage", "nav.manage", role=settings.organizer_role),
        ],
    )
    web = kit.web
    OptionalUser = Annotated[RPUser | None, Depends(kit.optional_user)]
    CurrentUser = Annotated[RPUser, Depends(kit.current_user)]
    Organizer = Annotated[RPUser, kit.role_required(settings.organizer_role)]
    csrf = [Depends(require_csrf)]

    def flash(done: str | None) -> str | None:
        return FLASH.get(done or "")

    @app.get("/")
    def index(request: Request, user: OptionalUser) -> Response:
        with transaction(kit.sessions) as db:
            events = service.list_events(db, upcoming=True)
        return web.render(request, "index.html", {"events": events})

    @app.get("/events/{event_id}")
    def event_page(
        request: Request,
        event_id: int,
        user: OptionalUser,
        done: str | None = None,
        problem: str | None = None,
    ) -> Response:
        with transaction(kit.sessions) as db:
            event = service.get_event(db, event_id)
            if event is None:
                raise PageError("error.not_found", 404)
            mine = service.registration_of(db, event_id, user.sub) if user else None
        return web.render(
            request,
            "event.html",
            {
                "event": event,
                "mine": mine,
                "flash": flash(done),
                "problem": problem if problem and problem.startswith("register.") else None,
            },
        )

    @app.post("/events/{event_id}/register", dependencies=csrf)
    def register(
        event_id: int,
        user: CurrentUser,
        team_name: Annotated[str, Form()] = "",
        members: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    ) -> Response:
        try:
            with transaction(kit.sessions) as db:
                service.register(db, event_id, user, team_name, members)
        except service.EventError as exc:
            if exc.key == "error.not_found":
                raise PageError("error.not_found", 404) from None
            return RedirectResponse(f"/events/{event_id}?problem={exc.key}", 303)
        return RedirectResponse(f"/events/{event_id}?done=registered", 303)

    @app.get("/me")
    def mine(request: Request, user: CurrentUser, done: str | None = None) -> Response:
        with transaction(kit.sessions) as db:
            registrations = service.my_registrations(db, user.sub)
            rows = [(r, r.event) for r in registrations]
        return web.render(request, "me.html", {"rows": rows, "flash": flash(done)})

    @app.post("/registrations/{registration_id}/cancel", dependencies=csrf)
    def cancel(registration_id: int, user: CurrentUser) -> Response:
        try:
            with transaction(kit.sessions) as db:
                service.cancel(db, registration_id, user.sub)
        except service.EventError:
            raise PageError("error.not_found", 404) from None
        return RedirectResponse("/me?done=cancelled", 303)

    @app.get("/manage")
    def manage(request: Request, user: Organizer, done: str | None = None) -> Response:
        with transaction(kit.sessions) as db:
            events = service.list_events(db)
        return web.render(request, "manage.html", {"events": events, "flash": flash(done)})

    def form_page(
        request: Request,
        event_id: int | None,
        values: dict[str, str],
        problems: list[str],
        status: int = 200,
    ) -> Response:
        return web.render(
            request,
            "event_form.html",
            {"event_id": event_id, "values": values, "problems": problems, "kinds": KINDS},
            status_code=status,
        )

    @app.get("/manage/events/new")
    def new_event(request: Request, user: Organizer) -> Response:
        return form_page(request, None, {"kind": "talk", "capacity": "50"}, [])

    @app.get("/manage/events/{event_id}/edit")
    def edit_event(request: Request, event_id: int, user: Organizer) -> Response:
        with transaction(kit.sessions) as db:
            event = service.get_event(db, event_id)
            if event is None:
                raise PageError("error.not_found", 404)
            values = {
                "title": event.title,
                "kind": event.kind,
                "description": event.description,
                "venue": event.venue,
                "starts_at": event.starts_at.isoformat(timespec="minutes"),
                "capacity": str(event.capacity),
                "team_size": str(event.team_size or ""),
            }
        return form_page(request, event_id, values, [])

    def save(
        request: Request, event_id: int | None, user: RPUser, values: dict[str, str]
    ) -> Response:
        data, problems = service.parse_event_form(**values)
        if data is None:
            return form_page(request, event_id, values, problems, 400)
        try:
            with transaction(kit.sessions) as db:
                if event_id is None:
                    service.create_event(db, data, user)
                else:
                    service.update_event(db, event_id, data)
        except service.EventError as exc:
            if exc.key == "error.not_found":
                raise PageError("error.not_found", 404) from None
            return form_page(request, event_id, values, [exc.key], 400)
        return RedirectResponse("/manage?done=saved", 303)

    @app.post("/manage/events/new", dependencies=csrf)
    def create_event(request: Request, user: Organizer, values: EventFormValues) -> Response:
        return save(request, None, user, values)

    @app.post("/manage/events/{event_id}/edit", dependencies=csrf)
    def update_event(
        request: Request, event_id: int, user: Organizer, values: EventFormValues
    ) -> Response:
        return save(request, event_id, user, values)

    @app.get("/manage/events/{event_id}/registrants.csv")
    def export(event_id: int, user: Organizer) -> Response:
        with transaction(kit.sessions) as db:
            event = service.get_event(db, event_id)
            if event is None:
                raise PageError("error.not_found", 404)
            body = service.registrants_csv(db, event)
        return Response(
            body.encode("utf-8-sig"),  # with a BOM, spreadsheet apps read UTF-8 names right
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="registrants-{event_id}.csv"',
                "Cache-Control": "no-store",
            },
        )

    return app
