"""The outbound guard: which addresses a webhook may reach, and how the request is pinned."""

from __future__ import annotations

import ipaddress

import pytest

from ingestlayer.destinations.errors import RetryableError
from ingestlayer.destinations.ssrf import BlockedDestination, OutboundPolicy, why_blocked

BLOCKED = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "198.18.0.1",
    "198.19.255.1",
    "192.0.2.7",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::7f00:1",
    "64:ff9b:1::a00:1",
    "2002:7f00:1::",
    "2002:a9fe:a9fe::1",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "151.101.1.69",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", BLOCKED)
def test_internal_addresses_and_their_ipv6_disguises_are_blocked(address: str) -> None:
    assert why_blocked(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert why_blocked(ipaddress.ip_address(address)) is None


def resolver_returning(*answers: list[str]) -> tuple[OutboundPolicy, list[str]]:
    calls: list[str] = []
    queue = list(answers)

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return queue.pop(0)

    return OutboundPolicy(resolver=resolve), calls


async def test_the_request_goes_to_the_checked_address_with_the_original_host() -> None:
    policy, calls = resolver_returning(["93.184.216.34"], ["127.0.0.1"])
    target, headers, extensions = await policy.check("https://hooks.example.com/in?x=1")
    assert str(target) == "https://93.184.216.34/in?x=1"
    assert headers == {"Host": "hooks.example.com"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    assert calls == ["hooks.example.com"]


async def test_a_name_resolving_to_an_internal_address_is_blocked_with_the_reason() -> None:
    policy, _ = resolver_returning(["10.0.0.5", "169.254.169.254"])
    with pytest.raises(BlockedDestination) as caught:
        await policy.check("https://internal.example.com/hook")
    assert "10.0.0.5 is a private address" in caught.value.message
    assert "link-local" in caught.value.message
    assert caught.value.retryable is False


async def test_only_a_checked_public_answer_is_used_when_answers_are_mixed() -> None:
    policy, _ = resolver_returning(["127.0.0.1", "93.184.216.34"])
    target, _, _ = await policy.check("https://mixed.example.com/")
    assert target.host == "93.184.216.34"


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]:8443/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://[64:ff9b::a9fe:a9fe]/x",
        "https://0.0.0.0/",
        "ftp://example.com/",
    ],
)
async def test_blocked_urls(url: str) -> None:
    with pytest.raises(BlockedDestination):
        await OutboundPolicy().check(url)


async def test_the_allow_list_admits_loopback_and_plain_http() -> None:
    policy = OutboundPolicy.from_strings(["127.0.0.1/32", "::1/128"])
    target, headers, _ = await policy.check("http://127.0.0.1:8787/hooks/on-call")
    assert str(target) == "http://127.0.0.1:8787/hooks/on-call"
    assert headers == {"Host": "127.0.0.1:8787"}
    with pytest.raises(BlockedDestination):
        await policy.check("http://10.0.0.1/hook")


async def test_a_dns_failure_is_retryable() -> None:
    async def fail(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    with pytest.raises(RetryableError) as caught:
        await OutboundPolicy(resolver=fail).check("https://nowhere.invalid/")
    assert caught.value.code == "dns_error"
