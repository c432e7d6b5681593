"""``/admin/users/new``: create a staff account (in the creator's scope), optionally sending a
set-password link. Its routes are included before ``/admin/users/{user_id}``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from sso.accounts import activation
from sso.admin.access import FormDep, Staff, check_agency, staff
from sso.admin.services import people
from sso.admin.users import agencies_in_scope
from sso.admin.views import back, page
from sso.core.errors import DomainError
from sso.web.deps import SessionDep, runtime_of
from sso.web.load_shedding import checks_password

router = APIRouter()


def _new_form(
    request: Request,
    session: Session,
    who: Staff,
    values: dict[str, str],
    error: DomainError | None = None,
) -> Response:
    return page(
        request,
        "admin/user_new.html",
        who,
        {
            "values": values,
            "agencies": agencies_in_scope(session, who),
            "error": error.message if error else None,
            "error_params": error.params if error else None,
        },
        status=error.status_code if error else 200,
    )


@router.get("/admin/users/new")
def new_user_form(request: Request, session: SessionDep) -> Response:
    who = staff(request, session, "users.manage")
    return _new_form(request, session, who, {})


NEW_FIELDS = ("username", "display_name", "email", "nip", "agency_id", "position", "phone")


@router.post("/admin/users/new")
@checks_password
def create_staff(request: Request, session: SessionDep, form: FormDep) -> Response:
    who = staff(request, session, "users.manage", next_path="/admin/users/new")
    values = {k: form.get(k) for k in NEW_FIELDS}
    values["send_activation"] = "yes" if form.flag("send_activation") else "no"
    agency_id = int(values["agency_id"]) if values["agency_id"].isdigit() else None
    check_agency(session, who, agency_id, "users.create")
    runtime = runtime_of(request)
    mails = []
    try:
        user = people.create_staff(
            session,
            runtime.password_hasher,
            people.NewStaff(
                username=values["username"],
                display_name=values["display_name"],
                email=values["email"],
                nip=values["nip"],
                agency_id=agency_id,
                position=values["position"],
                phone=values["phone"],
            ),
            actor_id=who.user.id,
        )
        if form.flag("send_activation") and user.email:
            # A set-password link valid 7 days (sso.accounts.activation), not a 30-minute reset.
            mails = [activation.issue(session, runtime.settings, user, actor_id=who.user.id)]
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _new_form(request, session, who, values, exc)
    response = back(f"/admin/users/{user.id}", "created")
    if mails:
        response.background = BackgroundTask(runtime.mailer.deliver, mails)
    return response
