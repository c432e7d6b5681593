"""Property-based fuzzing of the JSON endpoints against their OpenAPI description (schemathesis,
in process through the ASGI app): no 500, and every answer conforms to the description
(status code, content type, headers, schema).

Each operation gets schema-valid (positive) and schema-violating (negative) requests. Valid
requests are not expected to succeed (``positive_data_acceptance`` is off): a random but
well-formed ``code`` or ``refresh_token`` is rightly refused with 400. Bounded run time:
``MAX_EXAMPLES`` per operation and mode, derandomised so a run is reproducible.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session

from sso.runtime import Runtime
from tests.factories import create_client

MAX_EXAMPLES = 10
JSON_ENDPOINTS = {
    "/token",
    "/introspect",
    "/revoke",
    "/userinfo",
    "/device_authorization",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/jwks.json",
}


def _loaded(result: object) -> Any:
    """The operation of one of schemathesis's results (an invalid schema fails the test)."""
    assert isinstance(result, Ok), result
    return result.ok()


def _operations(app: FastAPI) -> list[Any]:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = [_loaded(result) for result in loaded.get_all_operations()]
    return sorted(found, key=lambda op: (op.path, op.method))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_json_endpoints_conform_to_their_description(
    app: FastAPI, runtime: Runtime, db: Session, mode: GenerationMode
) -> None:
    # A client exists, so generated client ids and secrets may meet a real row.
    create_client(runtime, db, redirect_uris=["https://rp.example.id/callback"])
    operations = _operations(app)
    described = {op.path for op in operations}
    assert described >= JSON_ENDPOINTS, JSON_ENDPOINTS - described
    for operation in [op for op in operations if op.path in JSON_ENDPOINTS]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            fuzz()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing in this request can be negated
        except Exception as exc:
            exc.add_note(f"operation: {operation.method.upper()} {operation.path}")
            raise


def test_registration_api_never_fails_with_a_server_error(
    app: FastAPI, runtime: Runtime, db: Session
) -> None:
    """Dynamic Client Registration (RFC 7591/7592, described by its own module): no 500 for
    any generated request, valid or not."""
    for operation in [op for op in _operations(app) if op.path.startswith("/oauth2/register")]:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def fuzz(case: Any) -> None:
                case.call_and_validate(checks=[not_a_server_error])

            try:
                fuzz()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE
            except Exception as exc:
                exc.add_note(f"operation: {operation.method.upper()} {operation.path} ({mode})")
                raise
