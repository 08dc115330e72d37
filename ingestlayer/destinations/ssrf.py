"""Outbound requests to user-supplied URLs: only to public addresses, over https, unless the
operator's allow-list says otherwise.

The host is resolved once; every address is checked (loopback, unspecified, private, link-local
with the cloud metadata address, CGNAT, benchmark, multicast, reserved, documentation, ULA, and
IPv4 addresses hidden in IPv4-mapped, NAT64 and 6to4 IPv6 forms); the request then goes to the
address that passed, with the original Host header and TLS server name, so a second DNS answer
can never redirect it (no rebinding). Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from ingestlayer.destinations.errors import PermanentError, RetryableError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")
ALWAYS_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "ff00::/8",
        "fc00::/7",
        "fe80::/10",
        "2001:db8::/32",
    )
)


class BlockedDestination(PermanentError):
    code = "blocked_destination"


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in SIX_TO_FOUR:
        return ip.sixtofour
    if ip in TEREDO and ip.teredo is not None:
        return ip.teredo[1]
    return None


def why_blocked(ip: IPAddress) -> str | None:
    """None for a public unicast address, else what kind of address it is."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        reason = why_blocked(inner)
        return f"{reason} (inside {ip})" if reason else None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local or ip in ipaddress.ip_network("169.254.0.0/16"):
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    for net in ALWAYS_BLOCKED:
        if ip.version == net.version and ip in net:
            return f"a reserved or private-use address ({net})"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    """`allow` holds networks the operator admits anyway (with plain http), e.g. 127.0.0.1/32
    for a local receiver in development."""

    allow: tuple[IPNetwork, ...] = ()
    resolver: Resolver | None = field(default=None, compare=False)

    @classmethod
    def from_strings(cls, entries: Sequence[str]) -> OutboundPolicy:
        return cls(allow=tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries))

    def allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allow)

    async def resolve(self, host: str, port: int) -> list[str]:
        if self.resolver is not None:
            return await self.resolver(host, port)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]

    async def check(self, url: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """The first admitted target; see `targets`."""
        return (await self.targets(url))[0]

    async def targets(self, url: str) -> list[tuple[httpx.URL, dict[str, str], dict[str, Any]]]:
        """Where to connect, in order: each admitted address with the Host header and the
        request extensions (TLS server name). Raises BlockedDestination with the reasons when
        no address is admitted."""
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            # the URL itself is not quoted: it may come from the environment with a token in it
            raise BlockedDestination(
                "the URL is not an absolute http(s) URL with a host name", hint="use an https URL"
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                resolved = await self.resolve(host, port)
            except OSError as exc:
                raise RetryableError(
                    f"could not resolve {host}: {exc.strerror or exc}", code="dns_error"
                ) from None
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
        bracketed = f"[{host}]" if ":" in host else host
        header = bracketed if parts.port is None else f"{bracketed}:{parts.port}"
        found: list[tuple[httpx.URL, dict[str, str], dict[str, Any]]] = []
        reasons: list[str] = []
        for ip in dict.fromkeys(addresses):
            admitted = self.allowed(ip)
            reason = None if admitted else why_blocked(ip)
            if reason is not None:
                reasons.append(f"{ip} is {reason}")
            elif parts.scheme != "https" and not admitted:
                reasons.append(f"{ip} would be reached over plain http; only https is allowed")
            else:
                target = httpx.URL(url).copy_with(host=str(ip))
                found.append((target, {"Host": header}, {"sni_hostname": host}))
        if not found:
            raise BlockedDestination(
                f"{host} is not an allowed destination: " + "; ".join(reasons or ["no address"]),
                hint="webhooks go to public https endpoints; an operator can admit an address "
                "with INGESTLAYER_OUTBOUND_ALLOW",
            )
        return found
