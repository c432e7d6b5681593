"""The SSRF guard for client URLs: private, loopback, link-local and reserved addresses are
refused in production (literals, IPv4 inside IPv6, and names that resolve to them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sso.oauth.url_guard import UnsafeURL, allow_private, check_client_url, check_url
from tests.conftest import make_settings


def resolver_to(*addresses: str) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def failing_resolver(host: str, port: int) -> list[str]:
    raise OSError("Name or service not known")


PRIVATE_LITERALS = [
    "https://127.0.0.1/jwks",  # loopback
    "https://127.1.2.3/",
    "https://[::1]/",
    "https://10.0.0.5/",  # RFC 1918
    "https://172.16.3.4/",
    "https://192.168.1.1/logo.png",
    "https://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
    "https://[fe80::1]/",  # IPv6 link-local
    "https://[fc00::1]/",  # IPv6 unique local
    "https://[fd12:3456::1]/",
    "https://100.64.0.1/",  # shared address space (CGNAT)
    "https://0.0.0.0/",  # unspecified
    "https://[::]/",
    "https://224.0.0.1/",  # multicast
    "https://240.0.0.1/",  # reserved
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "https://[::ffff:10.1.2.3]/",
    "https://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "https://[2002:c0a8:0101::1]/",  # 6to4 of 192.168.1.1
    "https://192.0.2.10/",  # documentation range (TEST-NET-1)
]


@pytest.mark.parametrize("url", PRIVATE_LITERALS)
def test_private_and_special_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL, match="not a public"):
        check_url(url, private_ok=False, resolver=failing_resolver)


@pytest.mark.parametrize("url", ["https://8.8.8.8/jwks", "https://[2001:4860:4860::8888]/x"])
def test_public_literals_pass(url: str) -> None:
    assert check_url(url, private_ok=False, resolver=failing_resolver) == url


@pytest.mark.parametrize(
    "addresses",
    [
        ("10.0.0.7",),
        ("127.0.0.1",),
        ("169.254.169.254",),
        ("fe80::2",),
        ("::1",),
        ("93.184.216.34", "192.168.0.10"),
    ],  # one private address among public ones is enough
)
def test_names_resolving_to_private_addresses_are_refused(addresses: tuple[str, ...]) -> None:
    with pytest.raises(UnsafeURL, match="not a public"):
        check_url("https://rp.example.id/jwks", private_ok=False, resolver=resolver_to(*addresses))


def test_a_name_resolving_to_public_addresses_passes() -> None:
    url = "https://rp.example.id/.well-known/jwks.json"
    assert (
        check_url(url, private_ok=False, resolver=resolver_to("93.184.216.34", "2606:2800::1"))
        == url
    )


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UnsafeURL, match="does not resolve"):
        check_url("https://nowhere.example.id/", private_ok=False, resolver=failing_resolver)


@pytest.mark.parametrize(
    "url",
    ["https://localhost/", "https://db.internal/", "https://printer.local/", "https://intranet/"],
)
def test_internal_names_are_refused_without_asking_dns(url: str) -> None:
    def must_not_resolve(host: str, port: int) -> list[str]:
        raise AssertionError("resolved")

    with pytest.raises(UnsafeURL, match="internal name"):
        check_url(url, private_ok=False, resolver=must_not_resolve)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://rp.example.id/logout", "must use https"),
        ("ftp://rp.example.id/", "must use https"),
        ("https://user:pw@rp.example.id/", "user name or password"),
        ("https://rp.example.id/#frag", "fragment"),
        ("https:///nohost", "no host"),
        ("https://rp.example.id:99999/", "malformed"),
        ("https://rp.example.id/a b", "malformed"),
    ],
)
def test_malformed_or_insecure_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=reason):
        check_url(url, private_ok=False, resolver=resolver_to("93.184.216.34"))


def test_dev_and_test_allow_private_addresses_prod_does_not(tmp_path: Path) -> None:
    test_settings = make_settings("sqlite://", tmp_path)
    assert allow_private(test_settings)
    assert check_client_url(test_settings, "http://127.0.0.1:8080/logout")
    strict = make_settings("sqlite://", tmp_path, allow_private_client_urls=False)
    assert not allow_private(strict)
    with pytest.raises(UnsafeURL):
        check_client_url(strict, "http://127.0.0.1:8080/logout")
    prod_like = make_settings("sqlite://", tmp_path).model_copy(update={"env": "prod"})
    assert not allow_private(prod_like)
