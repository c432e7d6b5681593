"""Outgoing HTTP calls to URLs that clients or admins chose (back-channel logout, webhooks) and
to upstream identity providers (their discovery documents, JWKS and token endpoints), pinned
to the addresses the SSRF guard vetted.

:func:`sso.oauth.url_guard.vet_url` resolves the host once and vets every address it gets.
:func:`pinned_post` then connects to one of *those* addresses — the request URL carries the IP —
while the ``Host`` header, the TLS SNI name and the certificate check keep the original host name
(httpcore's ``sni_hostname`` request extension sets the name ``ssl`` both sends and verifies). No
second DNS lookup happens anywhere, so a name whose owner answers "a public address" to the check
and "10.0.0.5" to the connection (DNS rebinding) reaches nothing but what was vetted.

Each call has its own connection pool: a connection verified for one host name is never reused
for another name that happens to resolve to the same address. Redirects are not followed (the
target would escape the vetting) and proxy settings from the environment are ignored (a proxy
would resolve the name itself).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from sso.oauth.url_guard import Resolver, UnsafeURL, VettedURL, system_resolver, vet_url


def _target(vetted: VettedURL, address: str) -> str:
    """The request URL with ``address`` (an IP) in place of the host name."""
    parts = urlsplit(vetted.url)
    host = f"[{address}]" if ":" in address else address
    return urlunsplit((parts.scheme, f"{host}:{vetted.port}", parts.path or "/", parts.query, ""))


def pinned_post(
    url: str,
    *,
    private_ok: bool,
    http_ok: bool = False,
    data: Mapping[str, str] | None = None,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    resolver: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Response:
    """POST to ``url`` at an address vetted by the SSRF guard.

    Raises :class:`~sso.oauth.url_guard.UnsafeURL` (nothing was sent) or :class:`httpx.HTTPError`.
    ``content``: a body sent byte for byte (a signed webhook payload).
    The vetted addresses are tried in turn while the connection itself fails; anything after
    the connection (a timeout, an HTTP error status) is the answer."""
    return pinned_request(
        "POST",
        url,
        private_ok=private_ok,
        http_ok=http_ok,
        data=data,
        json=json,
        content=content,
        headers=headers,
        timeout=timeout,
        resolver=resolver,
        verify=verify,
    )


def pinned_request(
    method: str,
    url: str,
    *,
    private_ok: bool,
    http_ok: bool = False,
    data: Mapping[str, str] | None = None,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    resolver: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Response:
    """A request (GET of a discovery document or a JWKS, POST to a token endpoint) to ``url``
    at an address vetted by the SSRF guard; see :func:`pinned_post`."""
    vetted = vet_url(url, private_ok=private_ok, http_ok=http_ok, resolver=resolver)
    sent_headers = {**(headers or {}), "Host": vetted.host_header}
    extensions = {"sni_hostname": vetted.host} if vetted.scheme == "https" else {}
    failure: httpx.ConnectError | None = None
    for address in vetted.addresses:
        with httpx.Client(
            timeout=timeout, follow_redirects=False, trust_env=False, verify=verify
        ) as http:
            try:
                return http.request(
                    method,
                    _target(vetted, address),
                    data=data,
                    json=json,
                    content=content,
                    headers=sent_headers,
                    extensions=extensions,
                )
            except httpx.ConnectError as exc:  # refused or unreachable: the next address
                failure = exc
    if failure is None:  # unreachable: vet_url never returns an empty address list
        raise UnsafeURL("the host name does not resolve")
    raise failure
