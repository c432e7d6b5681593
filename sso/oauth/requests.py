"""The HTTP request as Authlib sees it, built from plain values (no web framework here).

The web layer reads the body once (``await request.body()``) and hands us the method, URL,
header pairs and raw bytes. We parse ``application/x-www-form-urlencoded`` ourselves, strictly:
RFC 6749 §3.1/§3.2 say parameters MUST NOT repeat, and a parameter sent without a value is
treated as omitted; anything that is not UTF-8 form data is a :class:`MalformedRequest`, which
the caller answers with ``invalid_request`` (never a 500). Query parameters are not request
parameters of the token, introspection or revocation endpoints (they would leak secrets into
logs), so only the body counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from sqlalchemy.orm import Session

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 50
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class MalformedRequest(Exception):
    """The request cannot be read as OAuth form parameters; ``str()`` is a safe description."""


class Headers(dict[str, str]):
    """Header name -> value, looked up without regard to case (what Authlib expects)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        for name, value in pairs:
            key = name.lower()
            if key in self and key in ("authorization", "content-type"):
                raise MalformedRequest(f"repeated {name} header")
            self[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """One value per parameter, or :class:`MalformedRequest`."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedRequest("request body too large")
    if body:
        media, _, params = (content_type or "").partition(";")
        if media.strip().lower() != FORM_CONTENT_TYPE:
            raise MalformedRequest(f"the body must be {FORM_CONTENT_TYPE}")
        charset = params.strip().lower().removeprefix("charset=").strip('"')
        if params.strip() and charset not in ("utf-8", "utf8"):
            raise MalformedRequest("the body must be UTF-8")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequest("the body is not UTF-8 form data") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if any(ord(c) < 0x20 and c not in "\t\n\r" for c in name + value):
            raise MalformedRequest("control characters in a parameter")
        if value == "":  # RFC 6749 §3.1: sent without a value = omitted
            continue
        if name in form:
            raise MalformedRequest(f"parameter {_safe(name)} repeated")
        form[name] = value
    return form


def _safe(name: str) -> str:
    """A parameter name fit for an error_description (RFC 6749 §5.2 character set)."""
    cleaned = "".join(c for c in name[:40] if 0x20 <= ord(c) <= 0x7E and c not in '"\\')
    return repr(cleaned)


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, form: Mapping[str, str]) -> None:
        self._data = dict(form)
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in self._data.items():
            self._datalist[name].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class OAuthRequest(OAuth2Request):  # type: ignore[misc]
    """Authlib's request plus what our services need per request.

    ``db`` is the request's Session: every hook and endpoint reads and writes through it.
    ``on_error`` holds actions that must survive a failed request (revoking a grant after a
    code or refresh token was replayed, remembering a used assertion ``jti``, audit events of
    the failure): the web layer rolls the transaction back, runs them, and commits.
    """

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Iterable[tuple[str, str]],
        form: Mapping[str, str],
        db: Session,
    ) -> None:
        # Authlib refuses http:// URIs here. Transport security is the deployment's job: the
        # settings refuse an http issuer in prod, and behind a TLS-terminating proxy the URL we
        # see is http anyway. So the check runs on the https form and the real URI is kept.
        secure = "https" + uri[4:] if uri.startswith("http://") else uri
        super().__init__(method, secure, headers=Headers(headers))
        self.uri = uri
        self.payload = FormPayload(form)
        self.db = db
        self.on_error: list[Callable[[Session], None]] = []
        # Filled by the grants for the OpenID extension (see sso.oidc.provider).
        self.context: dict[str, Any] = {}

    @property
    def form(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def args(self) -> dict[str, str]:
        return {}


def build_request(
    method: str,
    uri: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    db: Session,
) -> OAuthRequest:
    """Parse and wrap one HTTP request; :class:`MalformedRequest` when it cannot be read."""
    header_map = Headers(headers)
    form = parse_form(body, header_map.get("content-type"))
    return OAuthRequest(method, uri, header_map.items(), form, db)
