"""SSRF guard for URLs that clients register and the provider may fetch or post to.

A client's ``jwks_uri``, ``logo_uri``, ``client_uri``, ``policy_uri``, ``tos_uri`` and
``backchannel_logout_uri`` are chosen by whoever registers it — in the developer portal or by
Dynamic Client Registration (RFC 7591), i.e. by people outside the city's network. If the
provider ever connects to such a URL, it must not become a way to reach the provider's own
network (databases, metadata services at 169.254.169.254, admin ports on 127.0.0.1): OWASP's
SSRF prevention advice is to resolve the host and refuse any address that is not public.

:func:`check_url` does that: the URL must be absolute ``https`` (``http`` only where the caller
allows it), without credentials or a fragment; the host is resolved and *every* address it
resolves to must be globally routable — not private (RFC 1918, fc00::/7), loopback, link-local
(169.254/16, fe80::/10), shared (100.64/10), multicast, reserved or unspecified. IPv4 addresses
wrapped in IPv6 (``::ffff:10.0.0.1``, NAT64 ``64:ff9b::a00:1``, 6to4) are unwrapped first.
Names that only exist inside a network (``localhost``, ``*.local``, ``*.internal``, ``*.lan``)
are refused without asking DNS.

In ``dev`` and ``test`` private addresses are allowed (a developer's RP runs on 127.0.0.1), and
names are not resolved; :func:`allow_private` reads ``Settings.allow_private_client_urls``, which
defaults to that. The check runs when a URL is registered *and* again right before the provider
connects (the name may resolve elsewhere by then). Before connecting, :func:`vet_url` resolves
the name once and vets every address; :mod:`sso.oauth.pinned_http` then connects to one of those
addresses and never asks DNS again (a second answer could point inside the network: DNS
rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from sso.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Iterable[str]]

INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class UnsafeURL(ValueError):
    """The URL may not be used; ``reason`` is a short English text for logs and API errors."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def allow_private(settings: Settings) -> bool:
    if settings.allow_private_client_urls is not None:
        return settings.allow_private_client_urls
    return settings.env in ("dev", "test")


def _unwrap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def is_public_address(ip: IPAddress) -> bool:
    """True only for a globally routable unicast address."""
    ip = _unwrap(ip)
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    ):
        return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return False
    return ip.is_global


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA), as strings."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None


@dataclass(frozen=True)
class VettedURL:
    """A URL with the addresses it resolved to, once, each of them vetted.

    A caller that connects must connect to one of ``addresses`` (see
    :mod:`sso.oauth.pinned_http`), never resolve ``host`` again: the name's owner controls its
    DNS and may answer with a private address the second time (DNS rebinding)."""

    url: str
    scheme: str
    host: str  # lower case, no brackets, no trailing dot
    port: int
    host_header: str  # what the Host header says: the URL's host[:port], as written
    addresses: tuple[str, ...]


def _parse(url: str, *, private_ok: bool, http_ok: bool) -> tuple[SplitResult, str, int]:
    if len(url) > 2000 or any(c.isspace() or ord(c) < 32 for c in url):
        raise UnsafeURL("malformed URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("malformed URL") from exc
    allowed = ("https", "http") if http_ok or private_ok else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeURL(f"the URL must use {' or '.join(allowed)}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeURL("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("the URL must not contain a user name or password")
    if parts.fragment or "#" in url:
        raise UnsafeURL("the URL must not contain a fragment")
    return parts, host, port or (443 if parts.scheme == "https" else 80)


def _addresses(host: str, port: int, *, private_ok: bool, resolver: Resolver) -> list[IPAddress]:
    """Every address ``host`` stands for (resolved once), each vetted unless ``private_ok``."""
    literal = _literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        internal = host == "localhost" or host.endswith(INTERNAL_SUFFIXES) or "." not in host
        if internal and not private_ok:
            raise UnsafeURL("the host is an internal name")
        try:
            found = list(resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise UnsafeURL("the host name does not resolve") from exc
        parsed = (_literal(str(raw)) for raw in found)
        addresses = list(dict.fromkeys(a for a in parsed if a is not None))
        if not addresses:
            raise UnsafeURL("the host name does not resolve")
    if not private_ok:
        for address in addresses:
            if not is_public_address(address):
                raise UnsafeURL("the host is not a public internet address")
    return addresses


def check_url(
    url: str,
    *,
    private_ok: bool,
    http_ok: bool = False,
    resolver: Resolver = system_resolver,
) -> str:
    """Return ``url`` when the provider may connect to it, else raise :class:`UnsafeURL`.

    For registration: where private addresses are allowed, the name is not resolved at all."""
    _parts, host, port = _parse(url, private_ok=private_ok, http_ok=http_ok)
    if not private_ok:
        _addresses(host, port, private_ok=False, resolver=resolver)
    return url


def vet_url(
    url: str,
    *,
    private_ok: bool,
    http_ok: bool = False,
    resolver: Resolver = system_resolver,
) -> VettedURL:
    """Check ``url`` as :func:`check_url` does, and resolve its host exactly once (even where
    private addresses are allowed): the addresses to connect to, and only those."""
    parts, host, port = _parse(url, private_ok=private_ok, http_ok=http_ok)
    addresses = _addresses(host, port, private_ok=private_ok, resolver=resolver)
    return VettedURL(
        url=url,
        scheme=parts.scheme,
        host=host,
        port=port,
        host_header=parts.netloc,
        addresses=tuple(str(a) for a in addresses),
    )


def check_client_url(settings: Settings, url: str, *, resolver: Resolver = system_resolver) -> str:
    """:func:`check_url` with this deployment's policy (private addresses only in dev/test)."""
    return check_url(url, private_ok=allow_private(settings), resolver=resolver)
