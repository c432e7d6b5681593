"""The documents of SCIM discovery (RFC 7644 §4, RFC 7643 §5-7): ServiceProviderConfig, the
Schemas of what we hold and the ResourceTypes, plus the small helpers every resource shares
(``meta``, case-insensitive attribute lookup). The schemas list only attributes we store, with
their real mutability, so a client (and scim2-tester) knows exactly what round-trips."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
MAX_RESULTS = 1000
DISCOVERY = ("serviceproviderconfig", "schemas", "resourcetypes")


def lookup(body: Any, name: str) -> Any:
    """``body[name]`` with attribute names compared without case (RFC 7643 §2.1)."""
    if not isinstance(body, dict):
        return None
    if name in body:
        return body[name]
    folded = name.casefold()
    return next((v for k, v in body.items() if k.casefold() == folded), None)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def etag(version: int) -> str:
    return f'W/"{version}"'


def meta(
    resource_type: str, location: str, created: datetime, modified: datetime, version: int
) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "created": iso(created),
        "lastModified": iso(modified),
        "location": location,
        "version": etag(version),
    }


def error(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return body


def service_provider_config(base_url: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": f"{base_url.rsplit('/scim/', 1)[0]}/docs",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "primary": True,
                "description": "An access token of our /token (client_credentials) with the "
                "scope scim.",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def _attr(
    name: str,
    kind: str = "string",
    *,
    required: bool = False,
    mutability: str = "readWrite",
    multi: bool = False,
    unique: str = "none",
    case_exact: bool = False,
    canonical: Sequence[str] = (),
    subs: Sequence[dict[str, Any]] = (),
    description: str = "",
) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "name": name,
        "type": kind,
        "multiValued": multi,
        "description": description or name,
        "required": required,
        "mutability": mutability,
        "returned": "default",
    }
    if kind in ("string", "reference"):
        attribute.update(caseExact=case_exact, uniqueness=unique)
    if canonical:
        attribute["canonicalValues"] = list(canonical)
    if subs:
        attribute["subAttributes"] = list(subs)
    if kind == "reference":
        attribute["referenceTypes"] = ["User"]
    return attribute


def _contact(name: str, description: str) -> dict[str, Any]:
    return _attr(
        name,
        "complex",
        multi=True,
        description=description,
        subs=(
            _attr("value", description="The value (we hold one, the work one)."),
            _attr("type", canonical=("work",), description="Always work."),
        ),
    )


def _schema(
    schema_id: str, name: str, description: str, attributes: list[dict[str, Any]], base_url: str
) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": schema_id,
        "name": name,
        "description": description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema_id}"},
    }


def schemas(base_url: str, agency_codes: Sequence[str]) -> list[dict[str, Any]]:
    """The three schemas; ``department`` lists the agency codes as its canonical values."""
    user = _schema(
        USER_SCHEMA,
        "User",
        "City staff (ASN)",
        [
            _attr(
                "userName",
                required=True,
                unique="server",
                description="Login name, unique without regard to case.",
            ),
            _attr(
                "name",
                "complex",
                description="The person's name.",
                subs=(_attr("givenName"), _attr("familyName")),
            ),
            # Every staff member has a display name and a state (defaults: the name, or the
            # userName; active), so both are always present: required, hence not removable.
            _attr("displayName", required=True, description="The name shown in the city's apps."),
            _attr("title", description="Position (jabatan)."),
            _contact("emails", "Work email (one), unique."),
            _contact("phoneNumbers", "Work phone number (one)."),
            _attr(
                "active",
                "boolean",
                required=True,
                description="false retires the person: sessions end, tokens are revoked.",
            ),
        ],
        base_url,
    )
    enterprise = _schema(
        ENTERPRISE,
        "EnterpriseUser",
        "Staff register fields",
        [
            _attr(
                "employeeNumber",
                unique="server",
                case_exact=True,
                description="NIP: 18 digits (birth date, start of service, gender, number).",
            ),
            _attr(
                "department",
                canonical=agency_codes,
                description="Code of the agency (OPD) the person works in; a change is a "
                "transfer (mutasi).",
            ),
        ],
        base_url,
    )
    group = _schema(
        GROUP_SCHEMA,
        "Group",
        "Agencies (OPD)",
        [
            _attr("displayName", required=True, description="The agency's name."),
            _attr(
                "members",
                "complex",
                multi=True,
                description="Staff of the agency.",
                subs=(
                    _attr("value", mutability="immutable", description="id of a User."),
                    _attr(
                        "$ref", "reference", mutability="immutable", description="URI of the User."
                    ),
                ),
            ),
        ],
        base_url,
    )
    return [user, enterprise, group]


def resource_types(base_url: str) -> list[dict[str, Any]]:
    schema = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
    return [
        {
            "schemas": [schema],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "City staff",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/User"},
        },
        {
            "schemas": [schema],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Agencies (OPD)",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/Group"},
        },
    ]


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
