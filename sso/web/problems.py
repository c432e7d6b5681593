"""RFC 9457 problem details (``application/problem+json``) for the machine-facing JSON APIs.

A problem names its kind with ``type`` (a URN of ours, stable, not meant to be dereferenced;
``about:blank`` when the HTTP status says it all), a short ``title``, the ``status``, a
``detail`` for this occurrence, and extension members where a program needs more (``errors``
for a validation failure, ``error`` for an RFC 6750 code). Like every error of the service it
never echoes a submitted value: a password or token typed into the wrong field must not come
back in a response or a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:tangsel-sso:problem:"
NO_STORE = {"Cache-Control": "no-store"}


def problem_type(code: str | None) -> str:
    return TYPE_PREFIX + code if code else "about:blank"


class Problem(Exception):
    """An error a JSON API answers with as a problem details document."""

    def __init__(
        self,
        status: int,
        detail: str = "",
        *,
        code: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or code or str(status))
        self.status = status
        self.detail = detail
        self.code = code
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": problem_type(self.code),
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body

    def response(self, instance: str | None = None) -> JSONResponse:
        return problem_response(self.status, self.body(instance), self.headers)


def problem_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        dict(body),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers={**NO_STORE, **dict(headers or {})},
    )


__all__ = ["MEDIA_TYPE", "NO_STORE", "Problem", "problem_response", "problem_type"]
