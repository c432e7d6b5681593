"""SCIM 2.0 discovery at /scim/v2 (RFC 7644 §4): ServiceProviderConfig, Schemas and
ResourceTypes. Included before :mod:`sso.scim.routes`, whose catch-all answers SCIM 404s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from sso.runtime import Runtime
from sso.scim.documents import list_response, resource_types, schemas, service_provider_config
from sso.scim.http import PREFIX, CallerDep, ScimError, base_url, one_hop, scim_response
from sso.storage.agencies import list_all
from sso.web.deps import RuntimeDep, SessionDep

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/ServiceProviderConfig")
@one_hop
def get_service_provider_config(runtime: RuntimeDep, caller: CallerDep) -> Response:
    return scim_response(service_provider_config(base_url(runtime)))


def _schemas(runtime: Runtime, session: Session) -> list[dict[str, Any]]:
    return schemas(base_url(runtime), [a.code for a in list_all(session)])


@router.get("/Schemas")
@one_hop
def list_schemas(runtime: RuntimeDep, session: SessionDep, caller: CallerDep) -> Response:
    found = _schemas(runtime, session)
    return scim_response(list_response(found, len(found), 1))


@router.get("/Schemas/{schema_id}")
@one_hop
def get_schema(
    schema_id: str, runtime: RuntimeDep, session: SessionDep, caller: CallerDep
) -> Response:
    for schema in _schemas(runtime, session):
        if schema["id"].lower() == schema_id.lower():
            return scim_response(schema)
    raise ScimError(404, f"no schema {schema_id}")


@router.get("/ResourceTypes")
@one_hop
def list_resource_types(runtime: RuntimeDep, caller: CallerDep) -> Response:
    found = resource_types(base_url(runtime))
    return scim_response(list_response(found, len(found), 1))


@router.get("/ResourceTypes/{type_id}")
@one_hop
def get_resource_type(type_id: str, runtime: RuntimeDep, caller: CallerDep) -> Response:
    for resource_type in resource_types(base_url(runtime)):
        if resource_type["id"].lower() == type_id.lower():
            return scim_response(resource_type)
    raise ScimError(404, f"no resource type {type_id}")
