"""Outbound URLs the service contacts on a client's behalf (webhooks, input-audio downloads).

- ``check_public_url`` refuses what is not a well-formed http(s) URL (a bad port or IPv6
  literal is a clear ``INVALID_<WHAT>``, never a crash) or whose host resolves to an address
  the settings do not allow.
- ``resolve`` does the same check and returns the checked address; ``pinned_request`` and
  ``fetch`` then connect to exactly that address (the Host header and the TLS name stay the
  URL's), so a DNS answer that changes between the check and the connection (DNS rebinding)
  cannot redirect the request. ``fetch`` also has a total deadline, not a per-read one.

Address policy (``address_class``): multicast, unspecified and reserved addresses are never
contacted; an IPv4 address carried inside IPv6 (IPv4-mapped ``::ffff:a.b.c.d``,
IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo) is judged
as that IPv4 address; loopback needs ``allow_loopback`` (or ``allow_private``); anything else
that is not globally routable needs ``allow_private``.

It knows nothing about jobs or webhooks; redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from ....errors import InvalidInput

__all__ = ["Target", "address_class", "check_public_url", "fetch", "pinned_request", "resolve"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressClass = Literal["public", "private", "loopback", "never"]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use, not global


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    value = int(address)
    if value >> 32 == 0 and value > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routed)
        return ipaddress.IPv4Address(value)
    if address in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_class(address: Address) -> AddressClass:
    """How an address may be contacted: never, loopback, private (not global) or public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%")[0])
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = address_class(embedded)
            # Teredo and local NAT64 reach the carried address through a relay of unknown
            # trust: at best private
            if address.teredo is not None or address in _NAT64_LOCAL:
                return (
                    "never"
                    if inner == "never"
                    else "loopback"
                    if inner == "loopback"
                    else "private"
                )
            return inner
        if address in _NAT64_LOCAL:
            return "private"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "never"
    if address.is_loopback:
        return "loopback"
    if address.is_global:
        return "public"
    return "private"


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to ``address`` and present ``host_header`` / ``server_name``."""

    url: str
    address: str
    port: int
    host_header: str
    server_name: str
    https: bool

    @property
    def pinned_url(self) -> httpx.URL:
        return httpx.URL(self.url).copy_with(host=self.address, port=self.port)

    def request_args(self) -> dict[str, Any]:
        extensions = {"sni_hostname": self.server_name} if self.https else {}
        return {"url": self.pinned_url, "headers": {"Host": self.host_header},
                "extensions": extensions}  # fmt: skip


def _parse(url: str, what: str, code: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except (ValueError, TypeError) as exc:  # bad port, bad IPv6 literal
        raise InvalidInput(f"{what} is not a valid URL: {exc}", code=code,
                           details={"url": url}) from exc  # fmt: skip
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(f"{what} must be an http(s) URL", code=code, details={"url": url})
    if any(ord(c) < 33 for c in url):
        raise InvalidInput(f"{what} contains control characters or spaces", code=code,
                           details={"url": url})  # fmt: skip
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, host, port or default, parts.netloc.rsplit("@", 1)[-1]


def resolve(url: str, allow_private: bool, allow_loopback: bool, what: str) -> Target:
    """Check ``url`` and return the address to connect to (every address the host resolves
    to must be allowed; the first one is used)."""
    code = f"INVALID_{what.upper().replace(' ', '_')}"
    scheme, host, port, netloc = _parse(url, what, code)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise InvalidInput(
            f"{what} host {host!r} does not resolve", code=code, details={"url": url}
        ) from exc
    addresses: list[Address] = []
    for info in infos:
        try:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        except ValueError:
            continue
        kind = address_class(address)
        if kind == "public":
            allowed = True
        elif kind == "loopback":
            allowed = allow_loopback or allow_private
        elif kind == "private":
            allowed = allow_private
        else:
            allowed = False
        if not allowed:
            raise InvalidInput(
                f"{what} resolves to {address}, which is not a public address",
                code=code,
                details={"url": url, "address": str(address)},
            )
        addresses.append(address)
    if not addresses:
        raise InvalidInput(f"{what} host {host!r} does not resolve", code=code,
                           details={"url": url})  # fmt: skip
    return Target(url, str(addresses[0]), port, netloc, host, scheme == "https")


def check_public_url(url: str, allow_private: bool, allow_loopback: bool, what: str) -> str:
    """``url`` if it is a well-formed http(s) URL whose addresses may all be contacted."""
    resolve(url, allow_private, allow_loopback, what)
    return url


def pinned_request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    allow_private: bool,
    allow_loopback: bool,
    what: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """``client.request`` to the address ``url`` was checked at (no second DNS look-up)."""
    target = resolve(url, allow_private, allow_loopback, what)
    args = target.request_args()
    return client.request(
        method,
        args["url"],
        headers={**(headers or {}), **args["headers"]},
        extensions=args["extensions"],
        **kwargs,
    )


@contextmanager
def _stream(client: httpx.Client, target: Target) -> Iterator[httpx.Response]:
    args = target.request_args()
    with client.stream("GET", args["url"], headers=args["headers"],
                       extensions=args["extensions"]) as response:  # fmt: skip
        yield response


def fetch(
    url: str,
    *,
    allow_private: bool,
    allow_loopback: bool,
    what: str,
    max_bytes: int,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """GET ``url`` from its checked address: at most ``max_bytes``, and all of it within
    ``timeout`` seconds in total (a server trickling bytes cannot hold the request longer).
    Errors are ``InvalidInput`` with code ``INVALID_<WHAT>``'s audio form ``INVALID_AUDIO``."""
    deadline = time.monotonic() + timeout
    target = resolve(url, allow_private, allow_loopback, what)
    chunks: list[bytes] = []
    size = 0
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client,
            _stream(client, target) as response,
        ):
            if response.status_code != 200:
                raise InvalidInput(
                    f"{what} download answered HTTP {response.status_code}",
                    code="INVALID_AUDIO",
                    details={"url": url},
                )
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidInput(f"{what} is over {max_bytes} bytes", code="INVALID_AUDIO")
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise InvalidInput(
                        f"{what} download took longer than {timeout:g} s",
                        code="INVALID_AUDIO",
                        details={"url": url, "timeout": timeout},
                    )
    except httpx.HTTPError as exc:
        raise InvalidInput(
            f"{what} could not be downloaded: {type(exc).__name__}",
            code="INVALID_AUDIO",
            details={"url": url},
        ) from exc
    return b"".join(chunks)
