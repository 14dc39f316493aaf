"""The notice-target rule: every spelling of an internal address is refused after
resolving, and a name is judged by everything it resolves to."""

import pytest

from shared.notify_targets import TargetPolicy, check_target, mask_url, refusal_for_address


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "169.254.169.254",
        "fe80::1%eth0",
        "10.0.0.5",
        "172.31.255.255",
        "192.168.0.1",
        "100.64.0.1",
        "0.0.0.0",
        "::",
        "224.0.0.251",
        "ff02::1",
        "fc00::1",
        "240.0.0.1",
        "192.0.2.1",
        "2001:db8::1",
    ],
)
def test_internal_and_special_addresses_are_refused(address):
    assert refusal_for_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_unicast_addresses_pass(address):
    assert refusal_for_address(address) is None


def fixed(*addresses):
    return lambda host, port: list(addresses)


def test_a_name_is_refused_if_any_of_its_addresses_is_internal():
    assert "127.0.0.1" in check_target("https://hooks.example/x", TargetPolicy(), fixed("127.0.0.1"))
    assert check_target("https://hooks.example/x", TargetPolicy(), fixed("8.8.8.8", "10.0.0.1"))
    assert check_target("https://hooks.example/x", TargetPolicy(), fixed("8.8.8.8")) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://localhost/",
        "http://LOCALHOST:8080/x",
    ],
)
def test_spellings_of_loopback_are_resolved_then_refused(url):
    """The real system resolver: the check is on what it returns, never on the text."""
    assert "loopback" in check_target(url, TargetPolicy())


def test_scheme_port_and_exemptions():
    assert check_target("ftp://8.8.8.8/", TargetPolicy()) == "must be an http:// or https:// URL"
    assert check_target("http://8.8.8.8:99999/", TargetPolicy())
    assert check_target("http://10.0.0.5/", TargetPolicy(allow_private=True)) is None
    allowed = TargetPolicy(allowed_hosts=frozenset({"hooks.internal"}))
    assert check_target("http://hooks.internal/x", allowed, fixed("10.0.0.5")) is None
    assert check_target("http://other.internal/x", allowed, fixed("10.0.0.5"))


def test_masking_keeps_scheme_and_host_only():
    assert mask_url("https://hooks.slack.com/services/T0/B0/abc?x=1") == "https://hooks.slack.com/…"
    assert mask_url(None) is None
