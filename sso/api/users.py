"""``/users``: find people (the console's search: any part of a name, username, email or NIP;
kind, status, agency subtree, locked), read one, create staff, change them (``If-Match``), and
the console's actions on a person: disable, enable, unlock, reset MFA, end sessions, send a
reset or activation link. The same services and rules as ``/admin/users``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from sso.accounts import activation
from sso.admin.services import authority, people
from sso.api.common import (
    Call,
    Paging,
    Reader,
    Writer,
    check_if_match,
    iso,
    page_response,
    resource,
)
from sso.core.errors import NotFound
from sso.db.models import User
from sso.oidc.backchannel import deliver_soon
from sso.storage import agencies as agency_repo
from sso.storage import directory as dir_repo
from sso.storage import keyset, people_search
from sso.storage import users as user_repo

router = APIRouter(prefix="/users", tags=["users"])


class UserOut(BaseModel):
    id: str
    username: str
    kind: Literal["staff", "citizen"]
    status: str
    display_name: str
    email: str | None
    email_verified: bool
    phone: str | None
    nip: str | None
    agency: str | None = Field(description="Code of the person's agency (OPD).")
    position: str | None
    has_password: bool
    created_at: str
    updated_at: str | None
    last_login_at: str | None
    version: int


class UserList(BaseModel):
    items: list[UserOut]


class NewStaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field("", max_length=64, description="Defaults to the NIP.")
    display_name: str = Field(max_length=200)
    email: str = Field("", max_length=254)
    nip: str = Field("", max_length=18)
    agency: str | None = Field(None, max_length=32, description="Agency code.")
    position: str = Field("", max_length=200)
    phone: str = Field("", max_length=32)
    send_activation: bool = Field(False, description="Mail a link to set a password (7 days).")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=32)
    position: str | None = Field(None, max_length=200)
    nip: str | None = Field(None, max_length=18)
    agency: str | None = Field(None, max_length=32, description='Agency code; "" for none.')


def user_body(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "kind": user.kind,
        "status": user.status,
        "display_name": user.display_name,
        "email": user.email,
        "email_verified": user.email_verified,
        "phone": user.phone,
        "nip": user.nip,
        "agency": user.agency.code if user.agency else None,
        "position": user.position,
        "has_password": user.password is not None,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
        "last_login_at": iso(user.last_login_at),
        "version": user.version,
    }


def _agency_id(session: Session, code: str | None) -> int | None:
    if not code:
        return None
    agency = agency_repo.get_by_code(session, code.strip().upper())
    if agency is None:
        raise NotFound("error.agency_unknown")
    return agency.id


def _target(call: Call, user_id: str, permission: str) -> User:
    user = user_repo.get(call.session, user_id[:36])
    if user is None:
        raise NotFound("admin.error.user_unknown")
    call.person(user, permission)
    return user


@router.get("", response_model=UserList)
def list_users(
    call: Reader,
    paging: Paging,
    q: Annotated[
        str, Query(max_length=200, description="Any part of a name, username, email or NIP.")
    ] = "",
    kind: Literal["staff", "citizen"] | None = None,
    status: Literal["active", "disabled"] | None = None,
    agency: Annotated[
        str | None, Query(max_length=32, description="Agency code (and its sub-agencies).")
    ] = None,
    locked: Annotated[bool, Query(description="Only accounts locked by failed logins.")] = False,
) -> Response:
    who = call.allow("users.view")
    session = call.session
    agency_ids: set[int] | None = None
    if agency:
        found = _agency_id(session, agency)
        assert found is not None
        agency_ids = dir_repo.subtree_ids(dir_repo.all_agencies(session), found)
    shown_kind, agency_ids = people.visible(who, kind, agency_ids)
    ids = None
    if locked:
        runtime = call.runtime
        ids = runtime.throttle.locked_accounts(session)
    query = people_search.UserQuery(
        text=q, kind=shown_kind, status=status, agency_ids=agency_ids, ids=ids
    )
    found_page = keyset.page(
        session,
        people_search.matching_users(query),
        User.id,
        after=paging.after,
        before=paging.before,
        limit=paging.limit,
    )
    rows = found_page.rows
    return page_response(
        call.request,
        [user_body(u) for u in rows],
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
        more_before=found_page.more_before,
        more_after=found_page.more_after,
    )


@router.get("/{user_id}", response_model=UserOut)
def get_user(call: Reader, user_id: str) -> Response:
    return resource(user_body(_target(call, user_id, "users.view")))


@router.post("", status_code=201, response_model=UserOut)
def create_staff(call: Writer, body: NewStaffIn) -> Response:
    who = call.allow("users.manage")
    session = call.session
    agency_id = _agency_id(session, body.agency)
    authority.check_agency(who, agency_id, "users.create")
    runtime = call.runtime
    user = people.create_staff(
        session,
        runtime.password_hasher,
        people.NewStaff(
            username=body.username.strip(),
            display_name=body.display_name,
            email=body.email.strip(),
            nip=body.nip.strip(),
            agency_id=agency_id,
            position=body.position.strip(),
            phone=body.phone.strip(),
        ),
        actor_id=None,
    )
    mails = []
    if body.send_activation and user.email:
        mails = [activation.issue(session, runtime.settings, user, actor_id=None)]
    call.commit()
    session.refresh(user)
    response = resource(user_body(user), 201, location=f"{call.request.url.path}/{user.id}")
    if mails:
        response.background = BackgroundTask(runtime.mailer.deliver, mails)
    return response


@router.patch("/{user_id}", response_model=UserOut)
def update_user(call: Writer, user_id: str, body: UserPatch) -> Response:
    user = _target(call, user_id, "users.manage")
    check_if_match(call.request, user_body(user), required=True)
    session = call.session
    agency_id = user.agency_id
    if body.agency is not None:
        agency_id = _agency_id(session, body.agency)
        if user.kind == "staff":
            authority.check_agency(call.allow("users.manage"), agency_id, "users.edit")

    def pick(value: str | None, current: str | None) -> str:
        return (value if value is not None else current or "").strip()

    people.edit(
        session,
        user,
        people.PersonEdit(
            version=user.version,
            display_name=pick(body.display_name, user.display_name),
            email=pick(body.email, user.email),
            phone=pick(body.phone, user.phone),
            position=pick(body.position, user.position),
            nip=pick(body.nip, user.nip),
            agency_id=agency_id,
        ),
        actor_id=None,
    )
    call.commit()
    session.refresh(user)
    return resource(user_body(user))


# The console's actions on one person and the permission each needs (sso.admin.user_actions).
ACTIONS = {
    "disable": "users.manage",
    "enable": "users.manage",
    "end-sessions": "users.manage",
    "send-activation-link": "users.manage",
    "unlock": "users.support",
    "send-reset-link": "users.support",
    "reset-mfa": "users.support",
}
Action = Literal[
    "disable",
    "enable",
    "end-sessions",
    "send-activation-link",
    "unlock",
    "send-reset-link",
    "reset-mfa",
]


@router.post("/{user_id}/{action}", response_model=UserOut)
def user_action(call: Writer, user_id: str, action: Action) -> Response:
    """Act on one person as the console does. ``If-Match`` is honoured when sent."""
    user = _target(call, user_id, ACTIONS[action])
    check_if_match(call.request, user_body(user), required=False)
    session, runtime = call.session, call.runtime
    mails: list[Any] = []
    deliveries: list[str] = []
    if action in ("disable", "enable"):
        people.set_disabled(session, user, action == "disable", actor_id=None)
    elif action == "unlock":
        throttle = runtime.throttle
        people.unlock(session, throttle, user, actor_id=None)
    elif action == "send-reset-link":
        mails = people.send_reset_link(session, runtime.settings, user, actor_id=None)
    elif action == "send-activation-link":
        mails = [activation.issue(session, runtime.settings, user, actor_id=None)]
    elif action == "reset-mfa":
        people.reset_mfa(session, user, actor_id=None)
    else:
        deliveries = people.end_sessions(session, user, actor_id=None)
    call.commit()
    deliver_soon(runtime, deliveries)
    session.refresh(user)
    response: JSONResponse = resource(user_body(user))
    if mails:
        response.background = BackgroundTask(runtime.mailer.deliver, mails)
    return response
