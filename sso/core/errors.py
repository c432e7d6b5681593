"""Domain errors: one base with a message that is safe to show a person.

``message`` is a catalogue key (translated by the web layer) or plain text; ``detail`` is for
operators (logs, audit events) and is never shown to the user.
"""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, detail: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.params = params


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class InvalidInput(DomainError):
    status_code = 400


class ServiceUnavailable(DomainError):
    status_code = 503
