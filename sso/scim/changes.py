"""What the SCIM routes that change things share: a change committed with the client as the
actor of its audit events, the authority the client acts with, and a body read into values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from sso.admin.services.authority import Authority, for_machine
from sso.core.errors import DomainError
from sso.db.models import AuditEvent
from sso.scim.documents import SEARCH_REQUEST, lookup
from sso.scim.http import ScimError, from_domain
from sso.web.machine_auth import MachineCaller


def write(session: Session, caller: MachineCaller, change: Callable[[], Any]) -> Any:
    """Run a change and commit it; domain refusals and stale versions become SCIM errors.
    The services record their audit events with no person as actor; the client is the actor,
    so its id goes on each of them."""

    def stamp(_session: Session, row: object) -> None:
        if isinstance(row, AuditEvent) and row.client_id is None:
            row.client_id = caller.client_id

    event.listen(session, "transient_to_pending", stamp)
    try:
        result = change()
        session.commit()
        session.expire_all()  # relationships (a person's agency) are read again
    except DomainError as exc:
        session.rollback()
        raise from_domain(exc) from exc
    except StaleDataError as exc:
        session.rollback()
        raise ScimError(412, "the resource changed meanwhile; read it again") from exc
    finally:
        event.remove(session, "transient_to_pending", stamp)
    return result


def authority(session: Session, caller: MachineCaller) -> Authority:
    """The client acts as an admin, or as an opd-admin of the agency it is limited to."""
    return for_machine(session, "users.manage", caller.agency_id)


def read_values(body: Any, read: Callable[[dict[str, Any]], Any]) -> Any:
    if not isinstance(body, dict):
        raise ScimError(400, "the body is a JSON object", "invalidSyntax")
    try:
        return read(body)
    except DomainError as exc:
        raise from_domain(exc) from exc


def search_request(body: Any) -> None:
    if not isinstance(body, dict) or SEARCH_REQUEST not in (lookup(body, "schemas") or []):
        raise ScimError(400, f"a search body is a {SEARCH_REQUEST} message", "invalidSyntax")
