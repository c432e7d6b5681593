"""Property-based fuzzing of the Admin API against its own OpenAPI description (schemathesis,
in process): whatever a machine client sends, valid or not, never a server error, and every
error is a problem document. Bounded: ``MAX_EXAMPLES`` per operation and mode, derandomised."""

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
from sqlalchemy.orm import Session

from tests.admin.conftest import agencies
from tests.api.conftest import MachineFactory
from tests.api.test_basics import API

MAX_EXAMPLES = 6


def _loaded(result: object) -> Any:
    """The operation of one of schemathesis's results (an invalid schema fails the test)."""
    assert isinstance(result, Ok), result
    return result.ok()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_a_server_error(
    app: FastAPI, db: Session, machine: MachineFactory, mode: GenerationMode
) -> None:
    agencies(db)
    auth = machine().auth
    loaded = schemathesis.openapi.from_asgi(f"{API}/openapi.json", app)
    operations = sorted(
        (_loaded(r) for r in loaded.get_all_operations()), key=lambda op: (op.path, op.method)
    )
    assert len(operations) >= 25
    statuses: set[int] = set()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: Any) -> None:
            response = case.call(headers=auth)
            statuses.add(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])
            # (A generated "../.." in a path parameter can lead the request out of the API.)
            if response.status_code >= 400 and f"{API}/" in str(response.request.url):
                found = response.headers.get("content-type") or [""]
                kind = found[0] if isinstance(found, list) else found
                assert kind.startswith("application/problem+json"), (
                    response.status_code,
                    response.text[:200],
                    str(response.request.url),
                )

        try:
            fuzz()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE
        except Exception as exc:
            exc.add_note(f"operation: {operation.method.upper()} {operation.path} ({mode})")
            raise
    # The token was good: the requests reached the routes (not a wall of 401).
    assert 401 not in statuses and statuses & {200, 201, 204}, statuses
